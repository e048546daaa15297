// npm run bench: every benchmark of the project, one JSON object on stdout (progress on stderr).
// Speed targets live here, never in timed unit tests: the machines are shared and noisy.
//   VLA_BENCH_EPISODES   expert episodes for the sim benchmark (default 100)
//   VLA_BENCH_JITTER_S   seconds of the control-loop jitter run (default 60)
//   VLA_BENCH_UR_S       seconds of the UR-over-rosbridge run at 50 Hz (default 600)
//   VLA_BENCH_DXL_SOAK_S seconds of the ALOHA serial soak at 50 Hz with 1% CRC errors (default 300)
//   VLA_BENCH_DXL_CYCLES read+write cycles timed over the Dynamixel ptys (default 2000)
//   VLA_BENCH_ONLY       comma-separated subset: sim, policy, alloc, runtime, ur, dynamixel, remote, latency,
//                        replay, rl; by name only: rl-robot (45 min, bench/rl-robot-bench.ts), soak, fuzz
//   VLA_BENCH_RL_EPISODES (default 16), VLA_BENCH_RL_ROUNDS (default 4)
//   VLA_BENCH_REPLAY_EPISODES (default 100), VLA_BENCH_REPLAY_DEMOS (evaluate this folder, record nothing)

import { expertEngine } from '../src/cli/sim/expert-engine.js';
import { benchmarkSim, measureRealtimeFactor } from '../src/cli/sim/sim-benchmark.js';
import { benchmarkAllocation } from './alloc-bench.js';
import { dynamixelBench } from './dynamixel-bench.js';
import { benchmarkFuzz } from './fuzz-bench.js';
import { benchmarkLatencyVerdicts } from './latency-bench.js';
import { benchmarkFreshThreadSpin } from './pacing-bench.js';
import { benchmarkPolicy } from './policy-bench.js';
import { benchmarkRemote } from './remote-bench.js';
import { benchmarkReplay } from './replay-bench.js';
import { benchmarkRl } from './rl-bench.js';
import { benchmarkRlRobot } from './rl-robot-bench.js';
import { benchmarkInsert, benchmarkJitter, benchmarkLatencySweep, benchmarkSeams } from './runtime-bench.js';
import { benchmarkSoak } from './soak.js';
import { benchmarkUrRos } from './ur-ros-bench.js';

const episodes = Number(process.env.VLA_BENCH_EPISODES ?? 100);
const jitter_s = Number(process.env.VLA_BENCH_JITTER_S ?? 60);
const ur_s = Number(process.env.VLA_BENCH_UR_S ?? 600);
const only = new Set(
  (process.env.VLA_BENCH_ONLY ?? 'sim,policy,alloc,runtime,ur,dynamixel,remote,latency,replay,rl').split(','),
);
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const result: Record<string, unknown> = { node: process.version, date: new Date().toISOString() };

if (only.has('sim')) {
  log(`sim: ur5e pick-place, ${episodes} expert episodes`);
  result.sim = await benchmarkSim({ robot: 'ur5e', task: 'pick-place', episodes });
  // the same episodes with physics at 250 Hz (5 substeps per tick): what a user gains by lowering the rate
  log(`sim: ur5e pick-place at 250 Hz physics, ${episodes} expert episodes`);
  const ex = await expertEngine('ur5e', 'pick-place', { physics_hz: 250 });
  const at250 = await measureRealtimeFactor(ex, episodes);
  await ex.close();
  result.sim_250hz = {
    physics_hz: 250,
    realtime_factor: Math.round(Math.max(...at250.rf) * 10) / 10,
    realtime_factor_passes: at250.rf.map((x) => Math.round(x * 10) / 10),
    expert_success_rate: at250.successes / episodes,
  };
}
if (only.has('policy')) {
  result.policy = await benchmarkPolicy({ log: (m) => log(`policy: ${m}`) });
}
if (only.has('alloc')) {
  result.alloc = await benchmarkAllocation(log);
}
if (only.has('runtime')) {
  result.runtime = {
    chunk_insert: benchmarkInsert(),
    seams: await benchmarkSeams(log),
    latency_sweep: await benchmarkLatencySweep(log),
    jitter_uncapped: await benchmarkJitter(jitter_s, log, null),
    jitter: await benchmarkJitter(jitter_s, log, 0),
    fresh_thread_spin: await benchmarkFreshThreadSpin(),
  };
}
if (only.has('ur')) {
  result.ur = await benchmarkUrRos(ur_s, log);
}
if (only.has('dynamixel')) {
  result.dynamixel = await dynamixelBench({
    soak_s: Number(process.env.VLA_BENCH_DXL_SOAK_S ?? 300),
    cycles: Number(process.env.VLA_BENCH_DXL_CYCLES ?? 2000),
    log: (m) => log(`dynamixel: ${m}`),
  });
}
if (only.has('remote')) {
  result.remote = await benchmarkRemote({ log: (m) => log(`remote: ${m}`) });
}
if (only.has('latency')) {
  result.latency = await benchmarkLatencyVerdicts((m) => log(`latency: ${m}`));
}
if (only.has('replay')) result.replay = await benchmarkReplay(log);
if (only.has('rl')) result.rl = await benchmarkRl(log);
// 45 minutes: only when asked for by name (VLA_BENCH_ONLY=rl-robot; settings: bench/rl-robot-bench.ts)
if (only.has('rl-robot')) result.rl_robot = await benchmarkRlRobot(log);
// hours long: only when asked for by name (VLA_BENCH_ONLY=soak; its settings: bench/soak.ts)
if (only.has('soak')) result.soak = await benchmarkSoak(log);
// many fuzz cases per endpoint: only when asked for by name (VLA_BENCH_ONLY=fuzz; settings: bench/fuzz-bench.ts)
if (only.has('fuzz')) result.fuzz = await benchmarkFuzz(log);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
