// The simulated UR endpoint of the soak, in its own process as `vla-sim serve` runs it, on a fixed port so
// that the soak can kill it and start a new one where the driver reconnects. It checks every motion command
// against the robot profile as a robot controller would see it: out of the joint limits, or a step from the
// last command larger than the profile's max step (the first command after a start is not compared).
// Protocol on stdio, one JSON line each:
//   out {ready, url, t_mono_ms}               once listening
//   in  "report"        -> out {report: {commands, first_command_t_mono_ms, out_of_limits, over_step, ...}}
//   in  "pause_states MS" -> /joint_states stop for MS ms (a stale state), then go on
import { createInterface } from 'node:readline';
import { UrEndpoint } from '../sim/rosbridge/ur-endpoint.js';
import { loadRobot } from '../src/robot/index.js';
import { monotonicMs } from '../src/util/clock.js';

/** Rounding slack of the limit checks (rad): the commands travel as JSON doubles, no loss expected. */
const SLACK_RAD = 1e-9;

const port = Number(process.argv[2]);
const description = await loadRobot('ur5e');
const report = {
  commands: 0,
  first_command_t_mono_ms: null as number | null,
  last_command_t_mono_ms: null as number | null,
  out_of_limits: 0,
  over_step: 0,
  max_step_rad: 0,
  examples: [] as string[],
};
let previous: Float64Array | undefined;
const ep = await UrEndpoint.start({ robot: 'ur5e', port, camera_hz: 0, on_command: (t) => check(t) });

function check(t_mono_ms: number): void {
  const q = ep.cell.last_command;
  if (!q) return;
  report.commands++;
  report.first_command_t_mono_ms ??= t_mono_ms;
  report.last_command_t_mono_ms = t_mono_ms;
  for (let j = 0; j < q.length; j++) {
    const [lo, hi] = description.position_limits_rad[j];
    if (!(q[j] >= lo - SLACK_RAD && q[j] <= hi + SLACK_RAD)) note('out_of_limits', `joint ${j} at ${q[j]}`);
    const step = previous ? Math.abs(q[j] - previous[j]) : 0;
    report.max_step_rad = Math.max(report.max_step_rad, step);
    const max = description.max_step_rad;
    if (max !== undefined && step > max + SLACK_RAD) note('over_step', `joint ${j} stepped ${step} rad`);
  }
  previous = Float64Array.from(q);
}

function note(kind: 'out_of_limits' | 'over_step', what: string): void {
  report[kind]++;
  if (report.examples.length < 10) report.examples.push(`${kind}: ${what}`);
}

process.stdout.write(`${JSON.stringify({ ready: true, url: ep.url, t_mono_ms: monotonicMs() })}\n`);
createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'report') process.stdout.write(`${JSON.stringify({ report: { ...report, stats: ep.cell.stats } })}\n`);
  if (cmd === 'pause_states') {
    ep.cell.pauseJointStates(true);
    setTimeout(() => ep.cell.pauseJointStates(false), Number(arg));
  }
});
process.once('SIGTERM', () => {
  void ep.stop().then(() => process.exit(0));
});
