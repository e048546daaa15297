// Where a robot session's episodes run, from vla-finetune's flags: a UR through rosbridge (--rosbridge URL) or the
// ALOHA arms over serial (--ports, with the emulator's --sim-link or a real rig's --calibration), the workspace
// box (--workspace-box, checked against the robot now: nothing starts with a bad one) and a detector's success
// topic (--success-topic). The robot actor beside the learner gets them as its own flags (vla-finetune actor ...).
import { join, resolve } from 'node:path';
import { PortsArgError, parseArmPorts } from '../../../drivers/aloha/ports-arg.js';
import { FEEDBACK_TASKS } from '../../../sim/experts/index.js';
import type { TaskName } from '../../../sim/tasks/task.js';
import type { FinetuneConfig } from '../../rl/finetune-config.js';
import { choice, UsageError } from '../common.js';
import { robotDescription } from '../run/robot-args.js';
import { readWorkspaceBox } from './workspace-box.js';

export type RobotLink = NonNullable<FinetuneConfig['robot_link']>;

/** The robot link the flags name (undefined: none, the embedded sim); `operator`: who judges the episodes. */
export async function robotLinkArg(
  o: Record<string, unknown>,
  robot: string,
  operator: string | undefined,
): Promise<RobotLink | undefined> {
  if (o.rosbridge === undefined && o.ports === undefined) {
    for (const flag of ['workspaceBox', 'simLink', 'calibration', 'leaderPorts', 'successTopic', 'successRosbridge'])
      if (o[flag] !== undefined) throw new UsageError(`--${kebab(flag)} is for a session on a robot`);
    return undefined;
  }
  if (o.rosbridge !== undefined && robot === 'aloha')
    throw new UsageError('ALOHA runs over serial: --ports left=PATH,right=PATH (and --sim-link for the emulator)');
  if (o.ports !== undefined && robot !== 'aloha')
    throw new UsageError(`--ports drives the ALOHA arms; a ${robot} runs over ROS: --rosbridge ws://HOST:9090`);
  if (o.leaderPorts !== undefined) leaderPortsArg(o.leaderPorts as string, o.ports as string | undefined);
  const box = o.workspaceBox as string | undefined;
  if (box) await readWorkspaceBox(box, await robotDescription(robot, undefined, 50));
  const where =
    o.rosbridge !== undefined
      ? { rosbridge: rosbridgeArg(o.rosbridge as string) }
      : {
          ports: o.ports as string,
          ...(o.simLink ? { sim_link: o.simLink as string } : {}),
          ...(o.calibration ? { calibration_dir: resolve(o.calibration as string) } : {}),
          ...(o.leaderPorts !== undefined ? { leader_ports: o.leaderPorts as string } : {}),
        };
  const success_topic = successTopicArg(o, o.rosbridge as string | undefined, operator);
  return { ...where, ...(box ? { workspace_box: resolve(box) } : {}), ...(success_topic ? { success_topic } : {}) };
}

/**
 * --success-topic: a detector's std_msgs/Bool on --success-rosbridge, or else on the UR's rosbridge (the ALOHA arms
 * have none: there --success-rosbridge is required).
 */
export function successTopicArg(
  o: Record<string, unknown>,
  robotRosbridge: string | undefined,
  operator: string | undefined,
): RobotLink['success_topic'] {
  const topic = o.successTopic as string | undefined;
  if (topic === undefined) {
    if (o.successRosbridge !== undefined) throw new UsageError('--success-rosbridge goes with --success-topic');
    return undefined;
  }
  if (!/^\/[A-Za-z][\w/]*$/.test(topic) || topic.includes('//'))
    throw new UsageError(`--success-topic ${topic}: expected a ROS topic name such as /detector/success`);
  if (operator !== 'keyboard')
    throw new UsageError(
      "--success-topic stands in for the keyboard operator's s key (--operator keyboard; vla-finetune actor " +
        '--keyboard): a person still resets the scene',
    );
  // no --success-rosbridge: the UR's own, wherever it is (a resumed session may give another --rosbridge)
  const explicit = o.successRosbridge as string | undefined;
  if (explicit === undefined && robotRosbridge === undefined)
    throw new UsageError(`--success-topic ${topic}: say where it is published: --success-rosbridge ws://HOST:9090`);
  return { topic, ...(explicit ? { rosbridge: rosbridgeArg(explicit, '--success-rosbridge') } : {}) };
}

/** The robot actor beside the learner: its robot, its box, and every episode recorded in the run folder. */
export function robotActorArgs(link: RobotLink, margin: string | undefined, runDir: string): string[] {
  return [
    ...(link.rosbridge ? ['--rosbridge', link.rosbridge] : []),
    ...(link.ports ? ['--ports', link.ports] : []),
    ...(link.sim_link ? ['--sim-link', link.sim_link] : []),
    ...(link.calibration_dir ? ['--calibration', link.calibration_dir] : []),
    ...(link.leader_ports ? ['--leader-ports', link.leader_ports] : []),
    '--record',
    join(runDir, 'episodes'),
    ...(link.workspace_box ? ['--workspace-box', link.workspace_box] : []),
    ...(link.success_topic ? ['--success-topic', link.success_topic.topic] : []),
    ...(link.success_topic?.rosbridge ? ['--success-rosbridge', link.success_topic.rosbridge] : []),
    ...(margin ? ['--margin', margin] : []),
  ];
}

/** Where the session's episodes run, in a word for the summary. */
export function whereOf(link: RobotLink | undefined): string {
  if (!link) return 'sim';
  return link.rosbridge ?? `${link.ports}${link.sim_link ? ` (sim link ${link.sim_link})` : ''}`;
}

export function operatorKind(value: string, onRobot: boolean): NonNullable<FinetuneConfig['operator']>['kind'] {
  const kind = choice('--operator', value, ['none', 'scripted', 'keyboard'] as const);
  if (kind === 'keyboard' && !onRobot)
    throw new UsageError('--operator keyboard is for a session on a robot (--rosbridge or --ports)');
  return kind;
}

/** --operator-expert: 'feedback' needs the scripted operator and a task whose expert exists as state feedback. */
export function operatorExpert(value: string, kind: string, task: TaskName): 'plan' | 'feedback' {
  const expert = choice('--operator-expert', value, ['plan', 'feedback'] as const);
  if (expert === 'feedback' && kind !== 'scripted')
    throw new UsageError('--operator-expert feedback is for the scripted operator (--operator scripted)');
  if (expert === 'feedback' && !FEEDBACK_TASKS.includes(task))
    throw new UsageError(
      `--operator-expert feedback: no state-feedback expert for ${task} ` +
        `(there is one for: ${FEEDBACK_TASKS.join(', ')})`,
    );
  return expert;
}

/** --leader-ports: both leader arms, beside --ports (checked here too: the learner reports it, not its actor). */
function leaderPortsArg(value: string, ports: string | undefined): void {
  if (ports === undefined)
    throw new UsageError('--leader-ports are the ALOHA leader arms: with --ports (the followers)');
  let leaders: ReturnType<typeof parseArmPorts>;
  try {
    leaders = parseArmPorts(value);
  } catch (err) {
    if (err instanceof PortsArgError) throw new UsageError(err.message.replace(/^--ports/, '--leader-ports'));
    throw err;
  }
  if (!leaders.left || !leaders.right) throw new UsageError('--leader-ports needs both arms: left=PATH,right=PATH');
}

function rosbridgeArg(url: string, flag = '--rosbridge'): string {
  if (!/^wss?:\/\/[^/]+/.test(url)) throw new UsageError(`${flag} ${url}: expected ws://HOST:PORT`);
  return url;
}

const kebab = (flag: string) => flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
