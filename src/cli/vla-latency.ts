// vla-latency: does this policy keep up with this robot? Loads the policy as vla-run does (the same refusals),
// times it on realistic inputs, works out what the buffered runtime will make of those latencies (delay,
// trigger, stale prefix, the largest latency it absorbs) and says pass / warn (exit 0) or fail (exit 1);
// --simulate replays the measured latencies in the sim on the virtual clock to confirm it.
import { Command } from 'commander';
import { robotModel } from '../../sim/robots/index.js';
import { latencyBudget, quantilesOf } from '../latency/budget.js';
import { defaultPolicy } from '../policy/default-policy.js';
import { progress } from '../telemetry/progress.js';
import { EXIT, intArg, runProgram } from './common.js';
import { measure } from './latency/measure.js';
import { formatReport, type LatencyReport, writePlots } from './latency/report.js';
import { simulate } from './latency/simulate.js';
import { choosePolicy } from './run/policy-choice.js';
import { robotDescription } from './run/robot-args.js';
import { robotArg, taskArg } from './sim/args.js';

const EXAMPLES = `
Examples:
  vla-latency --robot ur5e --policy models/ur5e-pick-place.onnx
  vla-latency --robot ur5e --policy models/ur5e-pick-place.onnx --max-in-flight 2 --simulate 5 --out report/
  vla-latency --robot aloha --policy zmq://gpu-box:5555 --calls 500 --json

Exit codes: 0 pass (or warn: p99 within 20% of the tolerated latency), 1 fail (p99 latency above the latency
the configuration tolerates with 0 underruns), 2 bad usage or a policy that does not fit the robot.`;

const program = new Command('vla-latency')
  .description('time a policy on a robot and check it against the latency budget of the buffered runtime')
  .option('--robot <name>', 'ur5 | ur5e | aloha')
  .option('--policy <spec>', 'model.onnx | zmq://host:port | ws://host:port (default: the shipped demo model)')
  .option('--calls <n>', 'timed calls, after one warm-up call', '200')
  .option('--hz <n>', 'control rate (a model trained at another rate is refused, exit 2)', '50')
  .option('--margin <n>', 'the runtime trigger margin in ticks (as vla-run --margin)', '2')
  .option('--max-in-flight <n>', 'inference requests out at once (as vla-run --max-in-flight)', '1')
  .option('--simulate <n>', 'also run N sim episodes on the virtual clock with the measured latencies', '0')
  .option('--out <dir>', 'write <policy>-latency.png and .html (histograms per stage) to this folder')
  .option('--json', 'print exactly one JSON object on stdout')
  .addHelpText('after', EXAMPLES)
  .action(main);

async function main(o: Record<string, string | boolean | undefined>): Promise<void> {
  const robot = robotArg(o.robot as string | undefined);
  const json = o.json === true;
  const calls = intArg('--calls', o.calls as string, 1, 100_000);
  const hz = intArg('--hz', o.hz as string, 1, 1000);
  const margin = intArg('--margin', o.margin as string, 0, 1000);
  const max_in_flight = intArg('--max-in-flight', o.maxInFlight as string, 1, 16);
  const episodes = intArg('--simulate', o.simulate as string, 0, 10_000);
  const spec = (o.policy as string | undefined) ?? defaultPolicy(robot, taskArg(robot, undefined));
  const description = await robotDescription(robot, undefined, hz);
  const { policy, warnings } = await choosePolicy({
    spec,
    robot: description,
    sim_task: null,
    noise: 0,
    control_hz: hz,
    cameras: robotModel(robot).cameras.map((c) => c.name),
    square_cameras_only: true,
    no_sim_hint: 'vla-latency times a model or a policy server; the scripted expert reads the simulator, not cameras',
    allow_robot_mismatch: false,
    fixed_delay_ticks: undefined,
  });
  for (const w of warnings) process.stderr.write(`vla-latency: warning: ${w}\n`);
  const desc = policy.describe();
  const bar = progress('calling the policy', { unit: 'calls', json });
  let m: Awaited<ReturnType<typeof measure>>;
  try {
    m = await measure(policy, description, calls, (i) => bar.update(i, calls));
  } finally {
    bar.end();
    await policy.close();
  }
  const budget = latencyBudget({
    latencies_ms: m.total_ms,
    warmup_ms: m.warmup_ms,
    hz,
    horizon: desc.horizon,
    action_offset: desc.action_offset,
    margin,
    max_in_flight,
  });
  const samples = { total: m.total_ms, ...m.stages };
  const report: LatencyReport = {
    robot,
    policy: {
      spec,
      name: desc.name,
      kind: desc.kind,
      horizon: desc.horizon,
      action_offset: desc.action_offset,
      cameras: desc.cameras.map((c) => `${c.name} ${c.width}x${c.height}`),
    },
    hz,
    max_in_flight,
    calls,
    warmup_ms: Math.round(m.warmup_ms * 100) / 100,
    stages: Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, quantilesOf(xs)])),
    ...(m.request_bytes === undefined ? {} : { request_bytes: m.request_bytes }),
    budget,
    exit_code: budget.verdict === 'fail' ? EXIT.check_failed : EXIT.ok,
  };
  if (episodes > 0)
    report.simulation = await simulate({
      robot,
      policy: spec,
      hz,
      margin,
      max_in_flight,
      episodes,
      samples_ms: m.total_ms,
    });
  if (o.out) report.files = await writePlots(o.out as string, report, samples);
  process.stdout.write(json ? `${JSON.stringify(report)}\n` : formatReport(report));
  process.exitCode = report.exit_code;
}

await runProgram(program, process.argv, 'vla-latency');
