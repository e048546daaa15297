// npm run bench: every benchmark of the project, one JSON object on stdout (progress on stderr).
// Speed targets live here, never in timed unit tests: the machines are shared and noisy.
import { benchmarkSim } from '../sim/benchmark.js';

const episodes = Number(process.env.VLA_BENCH_EPISODES ?? 100);
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

log(`sim: ur5e pick-place, ${episodes} expert episodes`);
const sim = await benchmarkSim({ robot: 'ur5e', task: 'pick-place', episodes });
process.stdout.write(JSON.stringify({ node: process.version, date: new Date().toISOString(), sim }, null, 2) + '\n');
