// The control thread: builds and configures the driver it owns, then runs the real-time loop until told
// to stop. Nothing the main thread does (inference orchestration, rendering, logging, GC) can delay a
// command. A driver that cannot set the robot up is reported as such (nothing moved), never as a crash.
import { workerData } from 'node:worker_threads';
import { DriverSetupError } from '../../../drivers/driver.js';
import { frozenResidual } from '../../policy/residual/frozen-residual.js';
import type { ResidualCorrection } from '../../policy/residual/residual-corrector.js';
import type { RobotDescription } from '../../robot/index.js';
import { ownHeap } from '../../telemetry/thread-heaps.js';
import { ActionRing } from '../action-ring.js';
import { FaultPlan, RunTicks } from '../fault-injection.js';
import { ControlLoop } from './control-loop.js';
import { type BuiltDriver, buildDriver } from './driver-factory.js';
import { createPacer, type PacingKind } from './pacing.js';
import type { ControlResidualFactory, ControlWorkerData, FromWorker } from './protocol.js';
import { RealtimeLoop } from './realtime-loop.js';
import { TickBoard } from './tick-board.js';

const data = workerData as ControlWorkerData;
/** How often the thread posts its heap for --stats-every. */
const HEAP_REPORT_MS = 2000;
const post = (m: FromWorker) => data.port.postMessage(m);

/**
 * The thread's last word (stats, set-up failure, error). The thread then stays alive until the main thread
 * terminates it: were it to exit at once, its 'exit' event could reach the main thread before this message.
 */
function postLast(m: FromWorker): void {
  post(m);
  data.port.on('message', () => {}); // a listening port keeps the thread alive
}

main().catch((err: unknown) => {
  postLast({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
});

async function main(): Promise<void> {
  const built = await configured();
  if (!built) return;
  const desc = built.driver.description;
  const ring = new ActionRing(data.ring, {
    capacity: data.ring_capacity,
    dim: desc.action_names.length,
    features: data.ring_features,
  });
  const board = new TickBoard(
    { joints: desc.joint_names.length, grippers: desc.gripper_names.length, dim: desc.action_names.length },
    data.board,
  );
  const loop = new ControlLoop(built.driver, ring, board, built.sim, {
    fault_timeout_ms: data.fault_timeout_ms,
    stale_state_ms: data.stale_state_ms,
    max_step_rad: data.max_step_rad,
    workspace_box: data.workspace_box,
    residual: await residualOf(desc, built.pacing),
  });
  exitAtInjectedTick(loop);
  post({ type: 'ready', description: desc });
  const rt = new RealtimeLoop(loop, built, createPacer(built.pacing, data.spin_ms), data.port, data.fault_timeout_ms);
  // between ticks, rarely: a posted number costs the loop nothing it would notice; once at once, as the sim's
  // blocking loop runs no timer during an episode and a short run could end before the first
  const postHeap = () => post({ type: 'heap', heap: ownHeap(), watchdog: rt.watchdogHeap() });
  postHeap();
  setInterval(postHeap, HEAP_REPORT_MS).unref();
  const stats = await rt.run();
  // once more for the exit sample: a blocking loop (the sim's) may have run no timer since the first post, which
  // came before the stall watchdog thread had started and reported its heap
  postHeap();
  // before the stats: the main thread terminates this thread once it has them, and a driver's native
  // close (a serial port's) must not be in flight then
  await built.driver.close();
  postLast({ type: 'stats', stats });
}

/** The residual this thread applies: a trained file, one a plug-in module builds, or none. */
async function residualOf(desc: RobotDescription, pacing: PacingKind): Promise<ResidualCorrection | undefined> {
  if (data.residual) return frozenResidual(desc, data.residual, data.ring_features);
  const p = data.residual_plugin;
  if (!p) return undefined;
  // the plug-in's port is served by this thread's event loop, which a blocking loop never runs
  if (pacing === 'blocking') throw new Error('a residual plug-in needs a driver whose loop yields (UR, ALOHA)');
  const mod = (await import(p.module)) as { createControlResidual?: ControlResidualFactory };
  if (typeof mod.createControlResidual !== 'function')
    throw new Error(`residual plug-in ${p.module} exports no createControlResidual`);
  return mod.createControlResidual(desc, p.init, p.port, data.ring_features);
}

async function configured(): Promise<BuiltDriver | undefined> {
  let built: BuiltDriver | undefined;
  try {
    built = await buildDriver(data.driver, data.description);
    await built.driver.configure();
    return built;
  } catch (err) {
    if (!(err instanceof DriverSetupError)) throw err;
    await built?.driver.close().catch(() => undefined);
    postLast({ type: 'setup_failed', message: err.message });
    return undefined;
  }
}

/**
 * VLA_INJECT_FAULTS control-thread-exit@tick=N: this thread exits before executing run tick N, as a crash would,
 * leaving the driver with its last command (src/runtime/fault-injection.ts).
 */
function exitAtInjectedTick(loop: ControlLoop): void {
  // the main thread parsed the same variable before starting this thread, and refused it if malformed
  const plan = FaultPlan.fromEnv(loop.description.control_hz);
  if (!plan?.has(['control-thread-exit'])) return;
  const run = new RunTicks();
  const step = loop.step.bind(loop);
  loop.step = (now_ms: number) => {
    if (plan.take(['control-thread-exit'], run.of(loop.tick + 1))) process.exit(70);
    step(now_ms);
  };
}
