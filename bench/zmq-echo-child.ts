// The floor under the remote policy benchmark: a bare ZeroMQ ROUTER in its own process that answers every
// message at once with a reply the size of a chunk (25 x 14 float32). Prints its endpoint as one line.
import { Router } from 'zeromq';

const router = new Router({ linger: 0 });
await router.bind('tcp://127.0.0.1:0');
process.stdout.write(`${router.lastEndpoint}\n`);
const reply = Buffer.alloc(25 * 14 * 4);
process.once('SIGINT', () => router.close());
try {
  for await (const [id] of router) await router.send([id, '{}', reply]);
} catch {
  // closed
}
