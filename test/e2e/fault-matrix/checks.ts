// What every cell of the fault matrix checks, in one place: commands an endpoint received against the robot
// profile's limits (never against the commands themselves), the tick a fault fired at, and runs of vla-run
// with VLA_INJECT_FAULTS set.
import assert from 'node:assert/strict';
import { loadRobot, type RobotDescription } from '../../../src/robot/index.js';
import { safetyLimits } from '../../../src/runtime/safety.js';
import { type VlaRunChild, vlaRunChild } from '../vla-run-child.js';

/** Slack on the step check: float32 rounding on the way (rosbridge JSON, the ring's Float32). */
const STEP_EPS_RAD = 1e-5;

/**
 * Commands (rows in the robot's action layout, or joints only: `joints_only`) that leave the profile's limits
 * or move further per tick than its max step. `gaps[k]`: ticks between command k-1 and k (default 1; a held
 * tick sends none, and the robot may move meanwhile). `measured[k]`: where the robot was for command k; a
 * command at that pose ('exact': the runtime's hold, the pose it measured) or within one step of it
 * ('one-step': the pose the robot had when the command arrived) moves the robot no further than a step
 * however far the goal before it ran ahead of the arm. Empty when every command is safe.
 */
export function unsafeCommands(
  desc: RobotDescription,
  rows: ArrayLike<number>[],
  joints_only = false,
  gaps?: number[],
  measured?: ArrayLike<number>[],
  near: 'exact' | 'one-step' = 'exact',
): string[] {
  const lim = safetyLimits(desc);
  const idx = [...Array(lim.dim).keys()].filter((i) => !joints_only || !lim.is_gripper[i]);
  const bad: string[] = [];
  rows.forEach((q, k) => {
    idx.forEach((i, j) => {
      const v = q[joints_only ? j : i];
      if (!Number.isFinite(v) || v < lim.min[i] - STEP_EPS_RAD || v > lim.max[i] + STEP_EPS_RAD)
        bad.push(`command ${k} ${desc.action_names[i]} = ${v} outside [${lim.min[i]}, ${lim.max[i]}]`);
      const prev = k > 0 ? rows[k - 1][joints_only ? j : i] : v;
      const step = lim.max_step[i] * Math.max(1, gaps?.[k] ?? 1);
      const slack = near === 'exact' ? STEP_EPS_RAD : lim.max_step[i] + STEP_EPS_RAD;
      const held = measured !== undefined && Math.abs(v - measured[k][joints_only ? j : i]) <= slack;
      if (!held && Math.abs(v - prev) > step + STEP_EPS_RAD)
        bad.push(
          `command ${k} ${desc.action_names[i]} steps ${Math.abs(v - prev)} > ${step} (${gaps?.[k] ?? 1} ticks)`,
        );
    });
  });
  return bad;
}

export function assertSafe(
  desc: RobotDescription,
  rows: ArrayLike<number>[],
  joints_only = false,
  gaps?: number[],
  measured?: ArrayLike<number>[],
  near: 'exact' | 'one-step' = 'exact',
): void {
  const bad = unsafeCommands(desc, rows, joints_only, gaps, measured, near);
  assert.deepEqual(bad.slice(0, 5), [], `${bad.length} unsafe commands of ${rows.length}`);
}

export const robot = (name: string): Promise<RobotDescription> => loadRobot(name);

/** The run ticks a hook fired at, in order, from the lines fault-injection.ts prints. */
export function firedTicks(stderr: string, kind: string): number[] {
  const re = new RegExp(`VLA_INJECT_FAULTS: ${kind} fired at run tick (\\d+)`, 'g');
  return [...stderr.matchAll(re)].map((m) => Number(m[1]));
}

/** The run tick a hook fired at first. */
export function firedAt(stderr: string, kind: string): number {
  const t = firedTicks(stderr, kind);
  assert.ok(t.length > 0, `the ${kind} hook never fired: ${stderr.slice(-2000)}`);
  return t[0];
}

/** vla-run as a child with VLA_INJECT_FAULTS set to `faults` (spawn copies the environment when it is called). */
export function runWithFaults(faults: string | undefined, args: string[], timeout_ms = 90_000): VlaRunChild {
  const before = process.env.VLA_INJECT_FAULTS;
  if (faults === undefined) delete process.env.VLA_INJECT_FAULTS;
  else process.env.VLA_INJECT_FAULTS = faults;
  try {
    return vlaRunChild(args, timeout_ms);
  } finally {
    if (before === undefined) delete process.env.VLA_INJECT_FAULTS;
    else process.env.VLA_INJECT_FAULTS = before;
  }
}

/** Waits for a stderr line matching `re`; fails (rather than waiting forever) when the run ends first. */
export async function logged(run: VlaRunChild, re: RegExp): Promise<void> {
  const ended = run.done.then((r) => {
    throw new Error(`vla-run exited (${r.code}) before printing ${re}: ${r.stderr.slice(-2000)}`);
  });
  await Promise.race([run.stderrMatch(re), ended]);
  ended.catch(() => undefined);
}

/** The --json summary of a finished run, with the exit code and stderr to explain a failed assertion. */
export async function finished(run: VlaRunChild): Promise<{ code: number | null; s: Summary; stderr: string }> {
  const r = await run.done;
  let s: Summary;
  try {
    s = JSON.parse(r.stdout) as Summary;
  } catch {
    assert.fail(`no JSON summary (exit ${r.code}): ${r.stdout.slice(0, 500)}\n${r.stderr.slice(-3000)}`);
  }
  return { code: r.code, s, stderr: r.stderr };
}

/** The parts of vla-run's --json summary the matrix reads. */
export interface Summary {
  fault: string | null;
  error?: string;
  exit_code?: number;
  control: { ticks: number; underruns: number };
  holds: { stops: number; driver_faults: number; driver_fault_ticks: number; underrun_ticks: number };
  safety: { clamped_actions: number; rejected_chunks: number };
  buffer: { chunks: number; stale_actions_executed: number | null };
  episode_ends: Record<string, number>;
  inference: { calls: number; unavailable_calls?: number };
  driver?: { kind: string; faults: Record<string, number> };
  recordings?: { path: string; outcome: string; ticks: number }[];
}
