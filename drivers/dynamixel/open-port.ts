// Opening a serial port for the Dynamixel bus, from whichever thread: serialport's SerialPort on the main
// thread; in a worker (the control loop's) a WorkerSerialPort, because serialport's native reader only runs
// on the main thread's event loop. Both lock the device, so a second user of it is refused.
import { isMainThread } from 'node:worker_threads';
import { SerialPort } from 'serialport';
import { PortOpenError } from './errors.js';
import { type SerialLink, WorkerSerialPort } from './worker-serial-port.js';

/** Open `path`, or throw PortOpenError naming `name` (the arm) and the path. */
export async function openSerialLink(name: string, path: string, baud_rate: number): Promise<SerialLink> {
  const refused = (err: Error) => new PortOpenError(`${name}: cannot open serial port ${path}: ${err.message}`);
  if (!isMainThread) {
    return WorkerSerialPort.open(path, baud_rate).catch((err: Error) => {
      throw refused(err);
    });
  }
  const port = new SerialPort({ path, baudRate: baud_rate, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(refused(err)) : resolve())));
  return port;
}
