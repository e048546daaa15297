// npm run bench: every benchmark of the project, one JSON object on stdout (progress on stderr).
// Speed targets live here, never in timed unit tests: the machines are shared and noisy.
import { benchmarkSim, measureRealtimeFactor } from '../sim/benchmark.js';
import { SimEnv } from '../sim/sim-env.js';
import { createExpert } from '../sim/experts/index.js';

const episodes = Number(process.env.VLA_BENCH_EPISODES ?? 100);
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

log(`sim: ur5e pick-place, ${episodes} expert episodes`);
const sim = await benchmarkSim({ robot: 'ur5e', task: 'pick-place', episodes });

// the same episodes with physics at 250 Hz (5 substeps per tick): what a user gains by lowering the rate
log(`sim: ur5e pick-place at 250 Hz physics, ${episodes} expert episodes`);
const env = await SimEnv.create({ robot: 'ur5e', task: 'pick-place', physics_hz: 250 });
const at250 = measureRealtimeFactor(env, createExpert(env.robot, 'pick-place', env.control_hz), episodes);
env.dispose();
const sim_250hz = {
  physics_hz: 250,
  realtime_factor: Math.round(Math.max(...at250.rf) * 10) / 10,
  realtime_factor_passes: at250.rf.map((x) => Math.round(x * 10) / 10),
  expert_success_rate: at250.successes / episodes,
};
process.stdout.write(JSON.stringify({ node: process.version, date: new Date().toISOString(), sim, sim_250hz }, null, 2) + '\n');
