// The emulator's pseudo-terminal pair from node-pty's prebuilt binding: no process, no system package.
// serialport on the driver's end must see exactly the bytes the emulator writes, and the other way round.

import assert from 'node:assert/strict';
import { openSync, writeSync } from 'node:fs';
import { mkdtemp, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ReadStream } from 'node:tty';
import { SerialPort } from 'serialport';
import { createPtyPair } from '../sim/dynamixel/pty-pair.js';

const EVERY_BYTE = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

async function openPort(path: string): Promise<{ port: SerialPort; received: number[] }> {
  const port = new SerialPort({ path, baudRate: 1_000_000, autoOpen: false });
  await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
  const received: number[] = [];
  port.on('data', (d: Buffer) => received.push(...d));
  return { port, received };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
}

test('pty pair: made by node-pty, every byte value passes unchanged both ways, a driver may reconnect', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-pty-'));
  const pair = await createPtyPair(dir, 'left');
  try {
    assert.equal(pair.via, 'node-pty');
    assert.match(pair.user_path, /^\/dev\/pts\/\d+$/);
    assert.equal(await readlink(join(dir, 'left')), pair.user_path);
    const fromDriver: number[] = [];
    pair.onData((d) => fromDriver.push(...d));
    for (let connection = 0; connection < 2; connection++) {
      fromDriver.length = 0;
      const { port, received } = await openPort(pair.user_path);
      // CR, LF, XON/XOFF, ^C, ^D and DEL are where a cooked line discipline would interfere
      port.write(EVERY_BYTE);
      pair.write(EVERY_BYTE);
      await until(
        () => fromDriver.length >= 256 && received.length >= 256,
        `256 bytes each way (connection ${connection})`,
      );
      assert.deepEqual(Buffer.from(fromDriver), EVERY_BYTE, 'emulator reads what the driver wrote');
      assert.deepEqual(Buffer.from(received), EVERY_BYTE, 'driver reads what the emulator wrote');
      await new Promise<void>((r) => port.close(() => r()));
    }
  } finally {
    await pair.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('pty pair: raw for a client that sets nothing itself: no echo, no CR/LF translation either way', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-pty-'));
  const pair = await createPtyPair(dir, 'right');
  // a plain tty handle on the driver's end: it leaves the line discipline as the pair set it
  const fd = openSync(pair.user_path, 'r+');
  const driverEnd = new ReadStream(fd);
  try {
    const atEmulator: number[] = [];
    const atDriver: number[] = [];
    pair.onData((d) => atEmulator.push(...d));
    driverEnd.on('data', (d: Buffer) => atDriver.push(...d));
    const lineEnds = Buffer.from([0x0a, 0x0d, 0x03, 0x04, 0x11, 0x13, 0x7f]);
    pair.write(lineEnds);
    await until(() => atDriver.length >= lineEnds.length, "the driver reads the emulator's bytes");
    // the driver answers; anything echoed from the first write would arrive at the emulator before it
    writeSync(fd, Buffer.from([0x0a, 0xaa]));
    await until(() => atEmulator.length >= 2, "the emulator reads the driver's bytes");
    assert.deepEqual(
      Buffer.from(atDriver),
      lineEnds,
      'input: no CR/LF mapping, no signal or flow-control characters eaten',
    );
    assert.deepEqual(atEmulator, [0x0a, 0xaa], "no echo of the emulator's bytes; output LF not turned into CR LF");
  } finally {
    driverEnd.destroy();
    await pair.close();
    await rm(dir, { recursive: true, force: true });
  }
});
