// vla-sim serve: the simulated UR cell as a rosbridge server, so a user's ROS-side stack (or vla-run with
// --rosbridge) can be dry-run against the sim through the same topics a real UR5/UR5e has.
import type { Command } from 'commander';
import { cameraTopic, defaultRosSettings, UR_CONTROLLER_HZ } from '../../../calibration/ros-settings.js';
import { ROS_LAYOUTS } from '../../../protocols/ros/layout.js';
import { DEFAULT_MAX_CLIENT_MESSAGE_BYTES } from '../../../sim/rosbridge/rosbridge-server.js';
import { DEFAULT_PUBLISHER_CONNECT_MS, UrEndpoint } from '../../../sim/rosbridge/ur-endpoint.js';
import { holdCpuWakeLatency } from '../../runtime/cpu-wake-latency.js';
import { createLogger } from '../../telemetry/log.js';
import { choice, cpuWakeLatencyArg, intArg, numArg, SIMULATOR_CPU_WAKE_HELP, UsageError } from '../common.js';
import { cameraListArg, TASK_HELP, taskArg } from './args.js';

const UR_ROBOTS = ['ur5', 'ur5e'] as const;

export function serveCommand(program: Command): void {
  program
    .command('serve')
    .description('serve a simulated UR cell over the rosbridge v2 protocol until Ctrl-C')
    .option('--robot <name>', 'ur5 | ur5e')
    .option('--rosbridge <port>', 'WebSocket port (0: any free port)', '9090')
    .option(
      '--host <addr>',
      'interface to listen on (0.0.0.0 for other hosts: rosbridge has no authentication, anyone who reaches the ' +
        'port can move the simulated robot)',
      '127.0.0.1',
    )
    .option('--task <name>', TASK_HELP)
    .option('--seed <n>', 'seed of the first episode (/vla_sim/reset starts the next)', '0')
    .option('--layout <ros2|ros1>', 'topic names of the ROS 2 or the ROS 1 UR driver', 'ros2')
    .option('--cameras <list>', 'cameras to publish, comma-separated, or "none" (default: all)')
    .option('--camera-size <px>', 'image width and height', '224')
    .option(
      '--camera-hz <hz>',
      "camera frame rate; a real camera's 30 Hz: at 10 Hz the policy sees frames up to 100 ms older than the joints",
      '30',
    )
    .option('--shuffle-joint-names', 'send /joint_states names in a random order every message (tests clients)')
    .option(
      '--publisher-connect-ms <ms>',
      "how long a client's new publisher waits for the controllers to subscribe; messages before are lost, as in ROS",
      String(DEFAULT_PUBLISHER_CONNECT_MS),
    )
    .option('--program-stopped', "start with the robot program not running (the teach pendant's play not pressed)")
    .option('--cpu-wake-latency-us <us|off>', SIMULATOR_CPU_WAKE_HELP, '0')
    .option('--json', 'print the ready line as one JSON object')
    .addHelpText(
      'after',
      `
Examples (runs until Ctrl-C):
  vla-sim serve --robot ur5e --rosbridge 9090 &
  vla-run --robot ur5e --rosbridge ws://127.0.0.1:9090 --policy expert --episodes 20 --json
  vla-sim serve --robot ur5e --rosbridge 9090 --camera-size 64           frames at the shipped models' input size
  vla-sim serve --robot ur5 --layout ros1 --camera-hz 10                   ROS 1 names, fewer frames (less CPU)`,
    )
    .action(async (o: Record<string, string | boolean | undefined>) => {
      if (o.robot === undefined) throw new UsageError(`--robot is required (valid: ${UR_ROBOTS.join(', ')})`);
      const robot = choice('robot for the rosbridge endpoint', o.robot as string, UR_ROBOTS);
      const task = taskArg(robot, o.task as string | undefined);
      const port = intArg('--rosbridge', o.rosbridge as string, 0, 65535);
      const seed = intArg('--seed', o.seed as string, 0);
      const layout = choice('layout', o.layout as string, ROS_LAYOUTS);
      const cameras = cameraListArg(robot, o.cameras as string | undefined);
      const cameraSize = intArg('--camera-size', o.cameraSize as string, 8, 1024);
      const cameraHz = numArg('--camera-hz', o.cameraHz as string, 0, 60);
      const settings = defaultRosSettings(layout);
      const wakeCap = cpuWakeLatencyArg(o.cpuWakeLatencyUs as string);
      const log = createLogger({ name: 'vla-sim serve' });

      let endpoint: UrEndpoint;
      try {
        endpoint = await UrEndpoint.start({
          robot,
          task,
          seed,
          settings,
          port,
          host: o.host as string,
          cameras,
          camera_size: cameraSize,
          camera_hz: cameraHz,
          shuffle_joint_names: o.shuffleJointNames === true,
          log,
          publisher_connect_ms: numArg('--publisher-connect-ms', o.publisherConnectMs as string, 0, 10_000),
        });
        if (o.programStopped) endpoint.cell.setProgramRunning(false);
      } catch (err) {
        if (/cannot listen/.test((err as Error).message)) throw new UsageError((err as Error).message);
        throw err;
      }
      const wake = wakeCap === null ? undefined : holdCpuWakeLatency(wakeCap);
      if (wake?.why_not)
        log.warn(`CPU wake-up latency not capped (${wake.why_not}): messages may go out late on an idle machine`);
      const loopback = isLoopbackHost(o.host as string);
      if (!loopback)
        log.warn(
          { host: o.host },
          `rosbridge listens on ${endpoint.url}, beyond this machine, without authentication: anyone who reaches ` +
            'the port can command the simulated robot and reset its episodes',
        );
      // listened to before the address is printed: whoever reads it may signal at once, and must get the counters
      const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGINT', () => resolve('SIGINT'));
        process.once('SIGTERM', () => resolve('SIGTERM'));
      });
      const ready = {
        url: endpoint.url,
        loopback_only: loopback,
        max_message_bytes: DEFAULT_MAX_CLIENT_MESSAGE_BYTES,
        robot,
        task,
        seed,
        layout,
        joint_states_hz: UR_CONTROLLER_HZ[robot],
        topics: settings.topics,
        cameras:
          cameraHz > 0
            ? cameras.map((name) => ({
                name,
                topic: cameraTopic(settings, name),
                width: cameraSize,
                height: cameraSize,
                hz: cameraHz,
              }))
            : [],
      };
      process.stdout.write(
        o.json
          ? `${JSON.stringify(ready)}\n`
          : `rosbridge endpoint ready: ${ready.url}${loopback ? ' (this machine only)' : ''} ` +
              `(${robot} ${task}, seed ${seed}, /joint_states at ` +
              `${ready.joint_states_hz} Hz, ${layout} topics, ` +
              `cameras: ${ready.cameras.map((c) => c.name).join(', ') || 'none'}); Ctrl-C to stop\n`,
      );

      const signal = await stopSignal;
      const stats = endpoint.cell.stats;
      const { clients: _c, ...server } = endpoint.server.stats;
      await endpoint.stop();
      wake?.release();
      // the counters of dropped client messages are how a user (or the fuzz test) sees what was refused
      log.info({ signal, ...stats, ...server }, 'rosbridge endpoint stopped');
    });
}

/** Whether only this machine can reach an interface. */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || /^127\./.test(host) || host === '::1' || host === '[::1]';
}
