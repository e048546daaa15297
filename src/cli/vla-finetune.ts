// vla-finetune: residual RL on top of a frozen base policy, on the loop that drives the robot (buffer, UAC drop,
// latency, safety), here in the embedded sim. A small residual learns bounded per-joint corrections from sparse
// success; progress, held-out evaluations, checkpoints (exact resume), a collapse guard, and the best residual as
// ONNX for `vla-run --residual`.

import { resolve } from 'node:path';
import { Command } from 'commander';
import { shippedModelPath } from '../policy/default-policy.js';
import { residualManifestFor } from '../policy/residual/residual-draft.js';
import { fileSha256 } from '../policy/residual/residual-onnx.js';
import { FINETUNE_DEFAULTS, type FinetuneConfig } from '../rl/finetune-config.js';
import { runNameProblem } from '../rl/run-name.js';
import { choice, EXIT, intArg, layersArg, numArg, runProgram, UsageError } from './common.js';
import { ACTOR_HELP, actorCommand } from './finetune/actor-command.js';
import { baseModel, privilegedHead, startFeatures } from './finetune/base-model-args.js';
import { EXPORT_HELP, exportCommand } from './finetune/export-command.js';
import { runSession } from './finetune/finetune-session.js';
import { headCommand } from './finetune/head-command.js';
import { imitationCommand } from './finetune/imitation-command.js';
import { jointBoundsArg } from './finetune/joint-bounds-arg.js';
import { operatorCommand } from './finetune/operator-command.js';
import { poolFlags, poolOptions } from './finetune/pool-flags.js';
import { probeCommand } from './finetune/probe-command.js';
import { resumed } from './finetune/resume-args.js';
import { operatorExpert, operatorKind, robotLinkArg } from './finetune/robot-link-args.js';
import { SELECT_HELP, selectCommand } from './finetune/select-command.js';
import { toolFrameArg, toolFrameOptions, toolPoseArg } from './finetune/tool-frame-arg.js';
import { warmStartArg, warmStartOptions } from './finetune/warm-start-args.js';
import { signalExitCode } from './run/interrupts.js';
import { robotDescription } from './run/robot-args.js';
import { robotArg, TASK_HELP, taskArg } from './sim/args.js';

const d = FINETUNE_DEFAULTS;

const program = new Command('vla-finetune')
  .description(
    'Fine-tune a residual policy on top of a frozen base policy with reinforcement learning (SAC in the RLPD ' +
      "style, sparse success reward) on the runtime's own loop: in the embedded sim, on a UR over rosbridge, or " +
      'on ALOHA over serial.',
  )
  // the learner's options go before `actor`, so `vla-finetune actor --base ...` is the subcommand's
  .enablePositionalOptions()
  .option('--robot <name>', 'ur5 | ur5e | aloha')
  .option('--task <name>', TASK_HELP)
  .option('--sim', 'in the embedded MuJoCo sim, on the virtual clock')
  .option(
    '--rosbridge <url>',
    'on a UR through rosbridge in real time, ws://HOST:PORT: the simulated cell (vla-sim serve), or a real one ' +
      'with --operator keyboard',
  )
  .option(
    '--ports <left=PATH,right=PATH>',
    'on the ALOHA arms over serial in real time (with --sim-link: the emulator)',
  )
  .option('--sim-link <endpoint>', "with --ports: the Dynamixel emulator's sim link (vla-sim dynamixel prints it)")
  .option('--calibration <dir>', "with --ports on a real rig: the folder of the arms' calibration files")
  .option(
    '--leader-ports <left=PATH,right=PATH>',
    "with --ports: the leader arms' ports: t (or the scripted operator) hands the followers to them",
  )
  .option('--base <model.onnx>', 'the frozen base policy (default: models/<robot>-<task>.onnx)')
  .option('--run <name>', 'run name: letters, digits, . _ - (the folder under --runs-dir)')
  .option('--runs-dir <dir>', 'where runs live', 'runs')
  .option('--resume <run-dir>', 'continue a run from its newest good checkpoint (its config.json decides the rest)')
  .option('--rounds <n>', 'stop once this many rounds are done in total (a round: --episodes-per-round episodes)')
  .option('--minutes <m>', 'stop after this much wall time in this session (default 30 without --rounds)')
  .option('--episodes <n>', 'stop after this many training episodes in this session (whole rounds)')
  .option('--seed <n>', 'seeds the learner, the training seeds and the exploration', String(d.seed))
  .option(
    '--episodes-per-round <n>',
    'training episodes between learner updates',
    String(d.schedule.episodes_per_round),
  )
  .option(
    '--eval-every <rounds>',
    'rounds between held-out evaluations (and checkpoints)',
    String(d.schedule.eval_every_rounds),
  )
  .option('--eval-episodes <n>', 'episodes per evaluation (seeds 20000, 20001, ...)', String(d.schedule.eval_episodes))
  .option(
    '--select-episodes <n>',
    'at the end, the --select-candidates best-evaluated checkpoints run again on this many seeds from 30000 each, ' +
      'and the best becomes residual.onnx (0: the best evaluation stays; on a robot: 0)',
    String(d.selection?.episodes),
  )
  .option('--select-candidates <n>', 'checkpoints run again at the end', String(d.selection?.candidates))
  .option('--offline-episodes <n>', 'base-policy episodes for the offline buffer', String(d.schedule.offline_episodes))
  .option(
    '--scale-deg <deg>',
    "largest correction per joint (deg): one value, or one per joint in the robot's order (3,3,3,3,3,20: more " +
      'for the wrist)',
    String(Math.round((Number(d.residual.joint_scale_rad) * 180) / Math.PI)),
  )
  .option('--gripper-scale <x>', 'largest gripper correction (of its range)', String(d.residual.gripper_scale))
  .option('--hidden <n,n>', "the residual actor's hidden layer sizes", d.residual.hidden.join(','))
  .option('--critic-hidden <n,n>', "the critics' hidden layer sizes (default: the actor's)")
  .option('--no-features', 'the residual sees no base-model features, even when the base model gives them')
  .option(
    '--start-features',
    "the residual also sees the base model's features of the episode's first chunk, kept all episode: the scene " +
      'before the arm entered it (a target the arm later hides)',
  )
  .option('--episode-time', 'the residual also sees how long the episode has run (where along the task it is)')
  .option('--privileged-head', "sim: learn on the true values of what the base model's feature head estimates")
  .option('--every-ticks <n>', 'ticks between residual evaluations (held in between)', String(d.residual.every_ticks))
  .option(
    '--initial-bound <x>',
    "the residual's trust region at the start, a fraction of its bound (grows to 1 over --bound-ramp-rounds)",
    String(d.schedule.initial_bound),
  )
  .option(
    '--bound-ramp-rounds <n>',
    'rounds over which the trust region grows to the full bound (0: none)',
    String(d.schedule.bound_ramp_rounds),
  )
  .option(
    '--latency-ms <ms|measured>',
    'latency the virtual clock charges each base inference; measured: draws from the base model timed here, as ' +
      'vla-run --clock fast charges by default',
    String(d.latency_ms),
  )
  .option(
    '--operator <who>',
    "none | scripted: the sim's expert takes the arm over when it strays (HIL-SERL's human; training episodes " +
      'only) | keyboard (on a robot): a person starts and judges each episode with keys',
    'none',
  )
  .option(
    '--takeover-deg <deg>',
    'the scripted operator takes over when a joint strays this far from its plan',
    `${Math.round((d.operator!.takeover_rad * 180) / Math.PI)}`,
  )
  .option('--takeover-decisions <n>', 'residual decisions each takeover lasts', `${d.operator!.takeover_decisions}`)
  .option(
    '--operator-labels <which>',
    'takeovers | all: which decisions the actor imitates (all: the scripted operator labels every one, DAgger-style)',
    'takeovers',
  )
  .option(
    '--operator-expert <how>',
    "plan | feedback: where the scripted operator's corrections point (plan: the expert's plan made at the " +
      "episode's start; feedback: its next command from the arm's and the scene's state, push only)",
    'plan',
  )
  .option('--actor-lr <x>', "the actor's learning rate", String(d.learner.actor_lr))
  .option('--batch-size <n>', 'transitions per critic minibatch (half online, half offline)', `${d.learner.batch_size}`)
  .option('--utd <n>', 'critic updates per learner update (update-to-data ratio)', String(d.learner.utd))
  .option('--gamma <x>', 'discount per residual decision', String(d.learner.gamma))
  .option('--residual-penalty <x>', "weight of the actor's pull toward no correction", `${d.learner.residual_penalty}`)
  .option(
    '--bc-weight <x>',
    "weight of the actor's imitation of the operator's takeovers (0: reinforcement alone)",
    String(d.learner.bc_weight),
  )
  .option(
    '--warmup-updates <n>',
    'critic updates on the base rollouts alone before the first round',
    String(d.schedule.warmup_updates),
  )
  .option(
    '--actor-delay-updates <n>',
    'critic-only updates before the residual starts to move',
    String(d.learner.actor_delay_updates),
  )
  .option(
    '--max-collapses <n>',
    'rollbacks to the best checkpoint before the run stops',
    String(d.collapse.max_collapses),
  )
  .option('--margin <ticks>', 'on a robot: the robot loop keeps this buffer beyond the expected delay (default 2)')
  .option('--robot-wait <s>', 'on a robot: how long its actor waits for a lost link before exit 1 (default 120)')
  .option(
    '--workspace-box <file>',
    'on a robot: a safety box every command is held to: joint ranges inside the limits, e.g. ' +
      '{"joints_deg": {"shoulder_pan_joint": [-60, 60]}}, and/or where the flange may go (a UR; m, base frame), ' +
      'e.g. {"flange_m": {"x": [-0.8, -0.2], "y": [-0.5, 0.5], "z": [0.1, 0.8]}}',
  )
  .option(
    '--success-topic <topic>',
    "with --operator keyboard: a detector's std_msgs/Bool topic that says success in place of the s key",
  )
  .option('--success-rosbridge <url>', "the --success-topic's rosbridge (default: the UR's --rosbridge)")
  .option('--json', 'print exactly one JSON object on stdout at the end')
  .addHelpText(
    'after',
    `
Examples:
  vla-finetune probe --robot ur5e --task pick-place       first: do the base model's features place the objects?
  vla-finetune head --robot ur5e --task pick-place        where they do not (the cube's turn): a feature head
  vla-finetune operator --robot ur5e --task push --scale-deg 6   can the operator do it within the bound?
  vla-finetune imitation --task push --residual runs/p1/residual.onnx   how closely does a residual follow it?
  vla-finetune --robot ur5e --task pick-place --sim --base models/ur5e-pick-place.onnx --run pp-1 --minutes 30
  vla-finetune --resume runs/pp-1 --minutes 10
  vla-finetune --robot ur5e --task push --sim --run ws-1 --operator scripted --operator-expert feedback \\
      --warm-start-episodes 6000 --actors 2      the operator's episodes first, the actor fitted to them (round 0)
  vla-run --robot ur5e --sim --policy models/ur5e-pick-place.onnx --residual runs/pp-1/residual.onnx \\
      --clock fast --seed 10000 --episodes 200

Training episodes use seeds below 10000; evaluations during the run use 20000 and up, the selection at its end
30000 and up; keep 10000-19999 for your own held-out test. runs/NAME/ holds config.json, metrics.jsonl,
checkpoints/, best.json, residual.onnx (the best evaluated so far; at the end, the one selected), selected.json,
dashboard.html and success.png.

Episodes run in --actors processes next to the learner; actors on other machines join with
  vla-finetune --robot ur5e --sim --run pp-2 --actors 0 --learner-bind tcp://0.0.0.0:5560   (the learner)
  vla-finetune actor --learner tcp://LEARNER-HOST:5560                                       (each actor)

On a UR through rosbridge in real time: one actor beside the learner drives it; no base-only or evaluation
episodes unless asked, a checkpoint every round, every episode recorded; Ctrl-C holds the robot at once:
  vla-finetune --robot ur5e --rosbridge ws://127.0.0.1:9090 --run ur-1 --operator scripted --episodes 40
  vla-finetune --robot ur5e --rosbridge ws://ur-host:9090 --run ur-2 --operator keyboard --workspace-box box.json
With --operator keyboard you start each episode with Enter and judge it: s success, f failure, p pause, q stop;
t takes the arm over ([ ] a joint, + - push it within the residual's bound, 0 let go, t give it back);
--success-topic /detector/success lets a detector say success instead (a true while the episode runs).

Exit codes: 0 done (budget reached), 1 stopped by the collapse guard or a fault, no actor came, or one kept sending
malformed results, 2 bad usage or input, 130 Ctrl-C and 143 SIGTERM (a checkpoint is written first).`,
  )
  .action(async (o: Record<string, string | boolean | undefined>) => {
    const json = o.json === true;
    if (o.rounds !== undefined && o.episodes !== undefined)
      throw new UsageError('give --rounds or --episodes, not both');
    const counted = o.rounds !== undefined || o.episodes !== undefined;
    const budget = {
      rounds: o.rounds === undefined ? undefined : intArg('--rounds', o.rounds as string, 1),
      episodes: o.episodes === undefined ? undefined : intArg('--episodes', o.episodes as string, 1),
      minutes: o.minutes !== undefined ? numArg('--minutes', o.minutes as string, 0.01, 1e6) : counted ? undefined : 30,
    };
    const { config, runDir, resume } = o.resume !== undefined ? await resumed(o) : await fresh(o);
    const desc = await robotDescription(config.robot, undefined, 50);
    const pool = poolFlags(o, config, runDir);
    const measure_latency = !resume && !config.robot_link && o.latencyMs === 'measured';
    const end = await runSession({ config, runDir, resume, budget, desc, json, pool, measure_latency });
    const stopped = end.reason === 'interrupted' ? signalExitCode(end.signal ?? 'SIGINT') : EXIT.ok;
    process.exitCode = end.reason === 'collapse' ? EXIT.check_failed : stopped;
  });
toolFrameOptions(program, true);
warmStartOptions(program);
poolOptions(program);

async function fresh(o: Record<string, unknown>): Promise<{ config: FinetuneConfig; runDir: string; resume: false }> {
  if ([o.sim, o.rosbridge, o.ports].filter((x) => x !== undefined).length !== 1)
    throw new UsageError(
      'say where episodes run: --sim (the embedded sim), --rosbridge ws://HOST:PORT (a UR) or --ports ' +
        'left=PATH,right=PATH (the ALOHA arms)',
    );
  const robot_link = await robotLinkArg(o, robotArg(o.robot as string | undefined), o.operator as string);
  // on a robot every episode costs robot time: no base-only episodes and no held-out evaluations unless asked, and
  // a checkpoint after every round (a round is a minute of a person's time, not seconds of a machine's)
  const onRobotDefault = (flag: string, value: string, robot_value = '0') =>
    robot_link && program.getOptionValueSource(flag) === 'default' ? robot_value : value;
  const robot = robotArg(o.robot as string | undefined);
  const task = taskArg(robot, o.task as string | undefined);
  const run = o.run as string | undefined;
  if (!run) throw new UsageError('--run <name> is required (or --resume <run-dir>)');
  const problem = runNameProblem(run);
  if (problem) throw new UsageError(problem);
  // stored absolute: the run resumes, exports and selects from any folder
  const base = resolve((o.base as string | undefined) ?? shippedModelPath(robot, task));
  const sha256 = await fileSha256(base).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`--base ${base}: cannot read it (${err.code ?? err.message})`);
  });
  const desc = await robotDescription(robot, undefined, 50);
  const baseFacts = await baseModel(base, desc);
  const tool = toolFrameArg(o, desc);
  const config: FinetuneConfig = {
    ...d,
    run,
    robot,
    task,
    base: { path: base, sha256, horizon: baseFacts.horizon },
    seed: intArg('--seed', o.seed as string, 0),
    latency_ms: o.latencyMs === 'measured' ? d.latency_ms : numArg('--latency-ms', o.latencyMs as string, 0, 10_000),
    residual: {
      ...d.residual,
      // the tool frame's --scale-deg turns the tool; the joint bounds keep their default, unused
      joint_scale_rad: tool ? d.residual.joint_scale_rad : jointBoundsArg(o.scaleDeg as string, desc.joint_names),
      gripper_scale: numArg('--gripper-scale', o.gripperScale as string, 0, 1),
      ...(tool ? { tool } : {}),
      hidden: layersArg('--hidden', o.hidden as string),
      ...(o.criticHidden ? { critic_hidden: layersArg('--critic-hidden', o.criticHidden as string) } : {}),
      every_ticks: intArg('--every-ticks', o.everyTicks as string, 1, 100),
      base_features: o.features === false ? 0 : baseFacts.features,
      ...(o.startFeatures === true ? { start_features: startFeatures(o, baseFacts.features) } : {}),
      ...(o.episodeTime === true ? { episode_time: true } : {}),
      ...toolPoseArg(o, desc),
      ...(o.privilegedHead === true ? { privileged_head: privilegedHead(o, base) } : {}),
    },
    learner: {
      ...d.learner,
      actor_lr: numArg('--actor-lr', o.actorLr as string, 0, 10),
      batch_size: intArg('--batch-size', o.batchSize as string, 2, 65_536),
      utd: intArg('--utd', o.utd as string, 1, 100),
      gamma: numArg('--gamma', o.gamma as string, 0, 1),
      residual_penalty: numArg('--residual-penalty', o.residualPenalty as string, 0, 1e6),
      actor_delay_updates: intArg('--actor-delay-updates', o.actorDelayUpdates as string, 0),
      bc_weight: numArg('--bc-weight', o.bcWeight as string, 0, 1e6),
    },
    schedule: {
      ...d.schedule,
      episodes_per_round: intArg('--episodes-per-round', o.episodesPerRound as string, 1, 1000),
      eval_every_rounds: intArg('--eval-every', onRobotDefault('evalEvery', o.evalEvery as string, '1'), 1, 1_000_000),
      eval_episodes: intArg('--eval-episodes', onRobotDefault('evalEpisodes', o.evalEpisodes as string), 0, 10_000),
      offline_episodes: intArg('--offline-episodes', onRobotDefault('offlineEpisodes', o.offlineEpisodes as string), 0),
      warmup_updates: intArg('--warmup-updates', o.warmupUpdates as string, 0, 10_000_000),
      initial_bound: numArg('--initial-bound', o.initialBound as string, 0.001, 1),
      bound_ramp_rounds: intArg('--bound-ramp-rounds', o.boundRampRounds as string, 0),
    },
    ...(robot_link ? { robot_link } : {}),
    selection: {
      seed0: d.selection?.seed0 ?? 30000,
      candidates: intArg('--select-candidates', o.selectCandidates as string, 1, 1000),
      episodes: intArg('--select-episodes', onRobotDefault('selectEpisodes', o.selectEpisodes as string), 0, 100_000),
    },
    collapse: { ...d.collapse, max_collapses: intArg('--max-collapses', o.maxCollapses as string, 0, 100) },
    operator: {
      kind: operatorKind(o.operator as string, robot_link !== undefined),
      takeover_rad: (numArg('--takeover-deg', o.takeoverDeg as string, 0.01, 180) * Math.PI) / 180,
      takeover_decisions: intArg('--takeover-decisions', o.takeoverDecisions as string, 1, 100_000),
      label_all: choice('--operator-labels', o.operatorLabels as string, ['takeovers', 'all'] as const) === 'all',
      expert: operatorExpert(o.operatorExpert as string, o.operator as string, task),
    },
  };
  Object.assign(config, warmStartArg(o, config, program.getOptionValueSource('boundRampRounds') !== 'default'));
  // the base must fit the robot before the run folder exists
  await residualManifestFor(desc, { name: run, base_path: base, base_horizon: config.base.horizon, hidden: [1] });
  return { config, runDir: `${o.runsDir as string}/${run}`, resume: false };
}

program
  .command('actor')
  .description(
    'a rollout actor for a learner (vla-finetune --learner-bind ...): runs the episodes it is sent in the embedded ' +
      'sim, or on a robot (--rosbridge, --ports), and sends back their transitions; exits 0 when the learner is done',
  )
  .option('--learner <endpoint>', "the learner's tcp://HOST:PORT (required)")
  .option('--base <model.onnx>', "the base model file here, if not at the learner's path (same SHA-256)")
  .option('--rosbridge <url>', 'run the episodes on this UR through rosbridge in real time, not in the embedded sim')
  .option('--ports <left=PATH,right=PATH>', 'run the episodes on the ALOHA arms over serial, in real time')
  .option('--sim-link <endpoint>', "with --ports: the Dynamixel emulator's sim link (episodes, success, task state)")
  .option('--calibration <dir>', "with --ports on a real rig: the folder of the arms' calibration files")
  .option(
    '--leader-ports <left=PATH,right=PATH>',
    "with --ports: the leader arms' ports: t (or the scripted operator) hands the followers to them",
  )
  .option('--margin <ticks>', 'on a robot: buffer kept beyond the expected delay, as vla-run --margin (default 2)')
  .option('--learner-wait <s>', 'on a robot: no setup from a learner this long: exit 2, nothing moved (default 30)')
  .option('--robot-wait <s>', "on a robot: how long to wait for its lost link before exit 1 (default 120; 0: don't)")
  .option('--record <dir>', 'on a robot: every episode to an MCAP file in this folder (ticks and decisions)')
  .option('--keyboard', 'on a robot: a person starts (Enter) and judges (s, f, p, q) each episode here')
  .option('--workspace-box <file>', 'on a robot: a joint and/or flange box the safety filter holds every command to')
  .option('--success-topic <topic>', "with --keyboard: a detector's std_msgs/Bool topic that says success")
  .option('--success-rosbridge <url>', "the --success-topic's rosbridge (default: this UR's --rosbridge)")
  .option('--name <name>', "this actor's name in the learner's log (default actor-PID)")
  .option('--curve-server-key <file>', 'with a CURVE learner: its public key (NAME.key)')
  .option('--curve-client-key <file>', "with a CURVE learner: this actor's key pair (NAME.key_secret)")
  .addHelpText('after', ACTOR_HELP)
  .action(actorCommand);

program
  .command('export')
  .description("a checkpoint's residual as ONNX for vla-run --residual (the run keeps its best as residual.onnx)")
  .argument('<run-dir>', 'the run folder (runs/NAME)')
  .option('--round <n>', 'the checkpointed round to export (required)')
  .option('--out <file.onnx>', 'where to write it (default RUN-DIR/residual-roundN.onnx)')
  .option('--base <copy.onnx>', 'a --privileged-head run: for this copy of its base model (same head outputs)')
  .option('--json', "print one JSON object: the file and the round's evaluation during the run")
  .addHelpText('after', EXPORT_HELP)
  .action(exportCommand);

program
  .command('select')
  .description("run the best-evaluated checkpoints again on more seeds; the best becomes the run's residual.onnx")
  .argument('<run-dir>', 'the run folder (runs/NAME)')
  .option('--candidates <n>', "how many of the best-evaluated rounds (default: the run's --select-candidates, 8)")
  .option('--episodes <n>', "episodes each (default: the run's --select-episodes, 200)")
  .option('--seed0 <n>', 'the first seed (default 30000)')
  .option('--json', 'print one JSON object: every candidate and the one selected')
  .addHelpText('after', SELECT_HELP)
  .action(selectCommand);

probeCommand(program);
operatorCommand(program);
imitationCommand(program);
headCommand(program);

await runProgram(program, process.argv, 'vla-finetune');
