// Throughput and quality of the simulation, measured the way it is used: scripted-expert episodes.
//  realtime_factor         control ticks simulated per wall second / control rate (expert + physics)
//  realtime_factor_camera  the same with one 96 x 96 camera rendered at 10 Hz
//  camera_ms               median ms per rendered frame by size, per camera
//  expert_success_rate     over the episodes run for realtime_factor, with a Wilson 95% interval
// This machine is shared: the same run varies by up to ~30% from one minute to the next. Each timing
// is therefore taken in PASSES passes and the best pass is reported, with all passes alongside.
import { wilson } from '../src/util/stats.js';
import { SimEnv } from './sim-env.js';
import { createExpert } from './experts/index.js';
import { runExpertEpisode } from './rollout.js';
import type { RobotName } from './robots/index.js';
import type { TaskName } from './tasks/task.js';

export interface SimBenchOptions {
  robot: RobotName;
  task: TaskName;
  episodes: number;
  /** Physics rate (default 500 Hz, 10 substeps per 50 Hz tick). */
  physics_hz?: number;
  /** Episodes for the camera run (default min(episodes, 20)). */
  camera_episodes?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface SimBenchResult {
  robot: string;
  task: string;
  episodes: number;
  physics_hz: number;
  control_hz: number;
  realtime_factor: number;
  realtime_factor_passes: number[];
  ticks_per_s: number;
  realtime_factor_camera: number;
  realtime_factor_camera_passes: number[];
  camera_ms: Record<string, number>;
  camera_ms_by_camera: Record<string, Record<string, number>>;
  expert_success_rate: number;
  expert_success_ci95: [number, number];
  mean_episode_ticks: number;
  targets: Record<string, string>;
  meets_targets: boolean;
}

const CAMERA_SIZES = [64, 128, 224] as const;
const PASSES = 3;

export async function benchmarkSim(opts: SimBenchOptions): Promise<SimBenchResult> {
  const env = await SimEnv.create({ robot: opts.robot, task: opts.task, physics_hz: opts.physics_hz });
  try {
    const expert = createExpert(env.robot, env.task.name, env.control_hz);
    // warm-up: the first episode pays for JIT compilation
    runExpertEpisode(env, expert, 1_000_000);

    const { rf, ticks, successes } = measureRealtimeFactor(env, expert, opts.episodes, opts.onProgress);

    // one 96 x 96 camera at 10 Hz
    const camEpisodes = opts.camera_episodes ?? Math.min(opts.episodes, 20);
    const cam = env.camera(env.cameraNames()[0], 96);
    const frame = cam.newFrame();
    const every = Math.round(env.control_hz / 10);
    const rfCam: number[] = [];
    for (let pass = 0; pass < PASSES; pass++) {
      let camTicks = 0;
      const t1 = performance.now();
      for (let s = 0; s < camEpisodes; s++) {
        camTicks += runExpertEpisode(env, expert, s, { onTick: (e) => { if (e.tick % every === 0) e.render(cam, frame); } }).ticks;
        opts.onProgress?.(`camera episodes, pass ${pass + 1}/${PASSES}`, s + 1, camEpisodes);
      }
      rfCam.push(camTicks / ((performance.now() - t1) / 1000) / env.control_hz);
    }

    const byCamera: Record<string, Record<string, number>> = {};
    for (const name of env.cameraNames()) byCamera[name] = timeCamera(env, expert, name);
    const camera_ms = byCamera[env.cameraNames()[0]];

    const result: SimBenchResult = {
      robot: opts.robot,
      task: env.task.name,
      episodes: opts.episodes,
      physics_hz: env.physics_hz,
      control_hz: env.control_hz,
      realtime_factor: round(Math.max(...rf), 1),
      realtime_factor_passes: rf.map((x) => round(x, 1)),
      ticks_per_s: round(Math.max(...rf) * env.control_hz, 0),
      realtime_factor_camera: round(Math.max(...rfCam), 1),
      realtime_factor_camera_passes: rfCam.map((x) => round(x, 1)),
      camera_ms,
      camera_ms_by_camera: byCamera,
      expert_success_rate: round(successes / opts.episodes, 3),
      expert_success_ci95: wilson(successes, opts.episodes).map((x) => round(x, 3)) as [number, number],
      mean_episode_ticks: round(ticks / opts.episodes, 1),
      targets: { realtime_factor: '>= 100', realtime_factor_camera: '>= 20', 'camera_ms.224': '<= 10', expert_success_rate: '>= 0.95' },
      meets_targets: false,
    };
    result.meets_targets = result.realtime_factor >= 100 && result.realtime_factor_camera >= 20
      && camera_ms['224'] <= 10 && result.expert_success_rate >= 0.95;
    return result;
  } finally {
    env.dispose();
  }
}

export interface RealtimeFactor {
  /** One realtime factor per pass. */
  rf: number[];
  ticks: number;
  successes: number;
}

/** Expert episodes on seeds 0..episodes-1, PASSES times; the sim is deterministic, so every pass agrees. */
export function measureRealtimeFactor(env: SimEnv, expert: ReturnType<typeof createExpert>, episodes: number,
  onProgress?: SimBenchOptions['onProgress']): RealtimeFactor {
  let ticks = 0, successes = 0;
  const rf: number[] = [];
  for (let pass = 0; pass < PASSES; pass++) {
    let passTicks = 0, passSuccesses = 0;
    const t0 = performance.now();
    for (let s = 0; s < episodes; s++) {
      const r = runExpertEpisode(env, expert, s);
      passTicks += r.ticks;
      if (r.success) passSuccesses++;
      onProgress?.(`expert episodes at ${env.physics_hz} Hz, pass ${pass + 1}/${PASSES}`, s + 1, episodes);
    }
    rf.push(passTicks / ((performance.now() - t0) / 1000) / env.control_hz);
    if (pass > 0 && (passTicks !== ticks || passSuccesses !== successes)) throw new Error('benchmark passes disagree: the simulation is not deterministic');
    ticks = passTicks;
    successes = passSuccesses;
  }
  return { rf, ticks, successes };
}

/**
 * Median ms per frame at each size, over frames taken along an expert episode (the arm moves); the
 * lowest median of PASSES passes.
 */
function timeCamera(env: SimEnv, expert: ReturnType<typeof createExpert>, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const size of CAMERA_SIZES) {
    const cam = env.camera(name, size);
    const frame = cam.newFrame();
    let best = Infinity;
    for (let pass = 0; pass < PASSES; pass++) {
      const times: number[] = [];
      runExpertEpisode(env, expert, 7, {
        onTick: (e) => {
          if (e.tick % 4 !== 0) return;
          const t = performance.now();
          e.render(cam, frame);
          times.push(performance.now() - t);
        },
      });
      // the first frames run before the JIT has optimised the shading loop
      best = Math.min(best, median(times.slice(5)));
    }
    out[String(size)] = round(best, 2);
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
