// The simulated UR endpoint in its own process for bench/ur-ros-bench.ts, as `vla-sim serve` runs it,
// plus a log of when each motion command arrived (process.hrtime: CLOCK_MONOTONIC, the same clock as
// the benchmark process on this host). Protocol on stdio, one JSON line each:
//   out {ready, url, t_mono_ms}                    once listening
//   in  "report"  ->  out {received_t_mono_ms: [...], stats}
//   SIGTERM: stop (clients see their connections drop)
import { createInterface } from 'node:readline';
import { UrEndpoint } from '../sim/rosbridge/ur-endpoint.js';
import { monotonicMs } from '../src/util/clock.js';

const port = Number(process.argv[2] ?? 0);
const received: number[] = [];
const ep = await UrEndpoint.start({ robot: 'ur5e', port, camera_hz: 0, on_command: (t) => received.push(t) });
process.stdout.write(`${JSON.stringify({ ready: true, url: ep.url, t_mono_ms: monotonicMs() })}\n`);
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'report')
    process.stdout.write(`${JSON.stringify({ received_t_mono_ms: received, stats: ep.cell.stats })}\n`);
});
process.once('SIGTERM', () => {
  void ep.stop().then(() => process.exit(0));
});
