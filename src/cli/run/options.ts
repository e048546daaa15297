// The options, help text and examples of vla-run (what each flag means lives here, with the flag).
import { appendFileSync } from 'node:fs';
import type { Command } from 'commander';
import { LATENCY_MODEL_HELP } from '../../runtime/timing/latency-model.js';
import { startProcessStats } from '../../telemetry/process-stats.js';
import { numArg, UsageError } from '../common.js';
import { NOISE_HELP, TASK_HELP } from '../sim/args.js';
import { CAMERA_FLAG_HELP, collect } from './local-camera-args.js';
import { RECORD_CAMERAS_HELP, RECORD_HELP, RECORD_SIZE_HELP } from './recorder.js';

export function defineRunOptions(program: Command): Command {
  return program
    .description(
      'Run a VLA policy on a robot: an inference thread fills an ' +
        'action buffer, a control loop drains it at a fixed rate.',
    )
    .option('--robot <name>', 'required: ur5 | ur5e | aloha')
    .option(
      '--profile <file.json>',
      'the robot profile (joints, limits, home, cameras; calibration/profiles/<robot>.json by default)',
    )
    .option('--sim', 'drive the embedded MuJoCo simulation (required: one of --sim, --rosbridge, --ports)')
    .option(
      '--rosbridge [ws://host:port]',
      'drive a UR5/UR5e over ROS through this rosbridge server (a real robot, or ' +
        'vla-sim serve); without a value: the ' +
        "robot profile's URL",
    )
    .option(
      '--ros-layout <ros2|ros1>',
      "with --rosbridge: topic names of the ROS 2 or the ROS 1 UR driver (default: the profile's)",
    )
    .option(
      '--command-mode <mode>',
      'with --rosbridge: forward_position (stream servoj-like targets) | trajectory (one-point trajectories)',
      'forward_position',
    )
    .option(
      '--ports <left=PATH,right=PATH>',
      'aloha only: drive the two follower arms over these serial ports (a real rig, or vla-sim dynamixel)',
    )
    .option(
      '--sim-link <tcp://host:port>',
      "with --ports: the Dynamixel emulator's sim link (episode reset, success, task state, cameras)",
    )
    .option(
      '--allow-torque-off',
      "with --ports: the arms are resting, so connecting may switch a motor's torque off to write calibration " +
        'registers (EEPROM) that differ; without it that is refused and nothing is written',
    )
    .option(
      '--calibration <dir>',
      'with --ports: <dir>/left_follower.json and right_follower.json ' +
        '(vla-calibrate --out); default with --sim-link: ' +
        "the emulator's",
    )
    .option(
      '--camera <NAME=/dev/videoN[:WxH][@FPS]>',
      `with --rosbridge or --ports: ${CAMERA_FLAG_HELP}`,
      collect,
      [] as string[],
    )
    .option(
      '--fault-timeout <s>',
      'a driver fault (connection lost, stale state, no reply from a servo) or a ' +
        'stale camera lasting longer ends the ' +
        "run (exit 1); shorter ones hold and resume; a servo's hardware alert ends it at once",
      '5',
    )
    .option('--task <name>', TASK_HELP)
    .option(
      '--policy <spec>',
      'model.onnx: an ONNX policy with its manifest; expert: the scripted expert (sim only); tick-stamp: a ' +
        'diagnostic (every action says its tick, and the summary counts those executed at another); ' +
        'zmq://host:port (or tcp://): a policy served by vla-serve (?server_key=...&client_key=...&jpeg_quality=N&' +
        'timeout_ms=N also work); ws://host:port: an openpi server (with --openpi-map); default: the demo model ' +
        'in models/ for the robot and task, else the expert',
    )
    .option(
      '--curve-server-key <key|file>',
      "CURVE: the policy server's public key (its NAME.key from vla-serve keys, or the 40-character key)",
    )
    .option(
      '--curve-client-key <file>',
      "CURVE: this robot's key pair (NAME.key_secret); its public key goes to vla-serve --allow-client-key",
    )
    .option(
      '--jpeg-quality <1-100>',
      'send camera frames to a remote policy as JPEG of this quality, for a slow link (default: raw RGB at the ' +
        "model's input size)",
    )
    .option('--remote-timeout-ms <ms>', 'a remote policy call without a reply after this long counts as unavailable')
    .option(
      '--openpi-map <spec>',
      'with --policy ws://...: which camera goes under which openpi observation key, and the chunk the server ' +
        'answers: KEY=CAMERA[@WxH][:chw],...,state=KEY[[A:B]],prompt=KEY,text=TEXT,horizon=H[,dim=D][,offset=K]' +
        '[,hz=RATE]; e.g. observation/image=top,observation/wrist_image=wrist,horizon=10,dim=7',
    )
    .option(
      '--residual <file.onnx>',
      'a residual policy trained with vla-finetune on top of --policy: each buffered action plus its bounded ' +
        'correction, then the same safety filter; refused (exit 2) unless --policy is the model file it was ' +
        'trained on (SHA-256), for this robot and rate',
    )
    .option(
      '--allow-robot-mismatch',
      "run a model whose manifest names another robot (you checked that its actions are this robot's joints)",
    )
    .option('--episodes <n>', 'episodes to run (seeds --seed, --seed+1, ...)', '1')
    .option(
      '--duration <s>',
      'instead of --episodes: run episodes until this many seconds of robot time have passed (a real robot: one run ' +
        'this long, else until Ctrl-C); the episode the time runs out in is reported as truncated, not failed',
    )
    .option('--seed <n>', 'seed of the first episode', '0')
    .option('--hz <hz>', 'control rate', '50')
    .option(
      '--delay <auto|N>',
      'UAC delay: auto = drop by the measured arrival tick; N = always drop the first N ticks',
      'auto',
    )
    .option('--blend <mode>', 'overlap of chunks: replace | ensemble (ACT temporal ensembling) | average', 'replace')
    .option('--margin <ticks>', 'buffer kept beyond the expected delay when triggering inference', '2')
    .option(
      '--max-in-flight <n>',
      'inference requests out at once: 2 asks again before the last chunk landed, for a slow model or a remote ' +
        'server that can work on two observations (the latency tolerated grows from about H/2 ticks to about 2H/3 ' +
        'with 2, toward H with more; vla-latency computes it)',
      '1',
    )
    .option(
      '--inject-latency-ms <N[:J]>',
      'add N ms (+- uniform J ms) to every inference, to rehearse a slower model',
      '0',
    )
    .option(
      '--clock <clock>',
      'sim only: realtime (the control loop keeps wall time) | fast (virtual clock; each inference costs a latency ' +
        'from --latency-model)',
      'realtime',
    )
    .option(
      '--latency-model <spec>',
      `with --clock fast, what an inference costs: ${LATENCY_MODEL_HELP}; the ` +
        `summary prints the one used, to repeat a ` +
        `run exactly`,
      'measured',
    )
    .option('--physics-hz <hz>', 'sim only: physics rate, a multiple of the control rate', '500')
    .option('--noise <x>', NOISE_HELP, '0')
    .option('--record <file.mcap|dir>', RECORD_HELP)
    .option(
      '--record-cameras <names|all|none>',
      `${RECORD_CAMERAS_HELP}; all on a robot: those the policy reads`,
      'all',
    )
    .option('--record-size <px>', RECORD_SIZE_HELP, '96')
    .option(
      '--cpu-wake-latency-us <us|off|auto>',
      'while the run lasts, cap how long a CPU takes to wake (Linux PM QoS, /dev/cpu_dma_latency; needs root): idle ' +
        'CPUs poll instead of sleeping, so ticks and replies from the robot are ' +
        'seen at once. auto = 0 in real time (a ' +
        'warning on a robot if it cannot be held), off with --clock fast',
      'auto',
    )
    .option(
      '--stats-every <s>',
      'every S seconds, one JSON line {"process_stats": {...}} on stderr (or --stats-file): RSS, V8 heap, ' +
        'external and ArrayBuffer memory (MB) and open file descriptors, to watch a long run for leaks; off by default',
    )
    .option('--stats-file <file>', 'with --stats-every: append those lines to this file instead of stderr')
    .option(
      '--stats-gc',
      'with --stats-every: each sample also after a full GC of the main thread (after_gc: the memory it keeps, ' +
        'which a leak grows; plain RSS also holds garbage V8 has not yet collected); a few ms of that thread each',
    )
    .option('--json', 'print exactly one JSON object on stdout')
    .hook('preAction', (cmd) => startStatsFromFlags(cmd.opts()))
    .addHelpText(
      'after',
      `
Examples:
  vla-run --robot ur5 --sim                                     the default policy on the default task
  vla-run --robot ur5e --sim --episodes 20 --clock fast --inject-latency-ms 300 --json
  vla-run --robot ur5e --sim --episodes 100 --clock fast --latency-model fixed:40   the same result on any machine
  vla-run --robot aloha --sim --policy act.onnx --blend ensemble --record runs/
  vla-run --robot ur5e --sim --policy expert --noise 1 --episodes 200 --clock fast --record demos/ --record-size 64
  vla-sim serve --robot ur5e --rosbridge 9090 &                 the simulated UR endpoint, then through ROS:
  vla-run --robot ur5e --rosbridge ws://127.0.0.1:9090 --policy expert --episodes 20 --json
  vla-run --robot ur5e --rosbridge ws://ur-cell:9090 --ros-layout ros1 --policy act.onnx --duration 60
  vla-run --robot ur5e --rosbridge ws://ur-cell:9090 --policy act.onnx --camera wrist=/dev/video2:640x480@30 \\
    --duration 60                                               a camera on the robot host next to the cell's topics
  vla-sim dynamixel --robot aloha --json &                      the emulated ALOHA arms (prints ports, sim_link),
  vla-run --robot aloha --ports left=/dev/pts/3,right=/dev/pts/5 --sim-link tcp://127.0.0.1:5555 \\
    --policy expert --episodes 10 --json                        then over serial
  vla-run --robot aloha --ports left=/dev/ttyDXL_left,right=/dev/ttyDXL_right --calibration cal/ \\
    --policy act.onnx --duration 60                             a real rig
  vla-run --robot ur5e --sim --duration 3600 --stats-every 60 --stats-file stats.jsonl --json
                                                                an hour, memory and descriptors every minute

A real ALOHA rig (no --sim-link) has no episodes, success or task state: one run for --duration or until
Ctrl-C, no scripted expert; its cameras are devices on this host: --camera top=/dev/video0 per camera.
A camera whose frames are older than 250 ms stops inference (the robot holds when the buffer runs out);
one that stays stale longer than --fault-timeout ends the run (exit 1) naming it.

Exit codes: 0 done, 1 a fault stopped the robot (the summary says which), 2 bad usage or input (nothing
moved), 130 interrupted (Ctrl-C holds the robot, then the summary), 143 the same for SIGTERM.
Environment: VLA_LOG_LEVEL=debug|info|warn|error (stderr logs; default info), VLA_DEBUG=1 (stack traces).`,
    );
}

/** --stats-every/--stats-file: start sampling before anything else runs; the last sample goes out on exit. */
function startStatsFromFlags(o: Record<string, unknown>): void {
  const every = o.statsEvery as string | undefined;
  const file = o.statsFile as string | undefined;
  if (every === undefined) {
    if (file !== undefined) throw new UsageError('--stats-file goes with --stats-every <s>');
    if (o.statsGc) throw new UsageError('--stats-gc goes with --stats-every <s>');
    return;
  }
  const every_s = numArg('--stats-every', every, 0.1, 86_400);
  if (file !== undefined) {
    try {
      appendFileSync(file, '');
    } catch (err) {
      throw new UsageError(`--stats-file ${file}: cannot write it (${(err as Error).message})`);
    }
  }
  const stats = startProcessStats({ every_s, file, gc: o.statsGc === true });
  process.once('exit', () => stats.stop());
}
