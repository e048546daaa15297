// Actors for vla-finetune, both sides of the command line: `vla-finetune actor --learner tcp://HOST:PORT` (one rollout
// actor, on this machine or another), and the learner's pool: a ZmqPool on --learner-bind with N local actor
// processes (the same binary, `actor` subcommand) started next to it and ended with it. Local actors run in their
// own process group, so a Ctrl-C in the terminal reaches only the learner, which lets them finish the round it
// checkpoints and then says bye; should the learner die without a bye, they see their IPC channel close and exit.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { curveKeyPair } from 'zeromq';
import { PortsArgError, parseArmPorts } from '../../../drivers/aloha/ports-arg.js';
import type { AlohaSide } from '../../../protocols/aloha/motor-map.js';
import { readKeyFile } from '../../../protocols/policy-server/curve.js';
import { reachableAs } from '../../../protocols/rl-actor/setup.js';
import { ActorWorker, type ActorWorkerOptions } from '../../rl/actor-worker.js';
import { type ActorSetup, LocalPool, type RolloutPool } from '../../rl/rollout-pool.js';
import { type PoolEvent, ZmqPool } from '../../rl/zmq-pool.js';
import { createLogger } from '../../telemetry/log.js';
import { intArg, numArg, UsageError } from '../common.js';
import { type StopSignal, signalExitCode } from '../run/interrupts.js';
import { forwardedKeys, terminalKeys } from './keys.js';
import { alohaStart, robotRunner, rosStart } from './robot-actor.js';
import { successTopicArg } from './robot-link-args.js';

const BIN = fileURLToPath(new URL('../../../../bin/vla-finetune.js', import.meta.url));
/** How long a robot actor waits for a lost link to come back, by default (s): an endpoint restart, a cable. */
const ROBOT_WAIT_S = 120;
/** How a local actor gets its CURVE key pair (never on the command line, which `ps` shows to everyone). */
const CURVE_ENV = 'VLA_FINETUNE_ACTOR_CURVE';

export const ACTOR_HELP = `
Examples:
  vla-finetune --robot ur5e --sim --run pp-2 --actors 0 --learner-bind tcp://0.0.0.0:5560   (on the learner)
  vla-finetune actor --learner tcp://learner-host:5560                                       (on each actor)
  vla-finetune actor --learner tcp://learner-host:5560 --base /data/ur5e-pick-place.onnx \\
      --curve-server-key keys/learner.key --curve-client-key keys/actor1.key_secret
  vla-finetune actor --learner tcp://learner-host:5560 --rosbridge ws://127.0.0.1:9090      (on the robot host)

The base model file must be the learner's, byte for byte (SHA-256); the actor refuses another with exit 2.
Exit codes: 0 the learner is done, 1 a fault (or the learner that started it is gone), 2 a setup this actor
cannot run or bad usage, 130 Ctrl-C. It waits for a learner that is not there yet (and reconnects after a
restart), saying so every 10 s. A robot actor (--rosbridge) waits --learner-wait (30 s) for its first setup,
then exits 2 with nothing moved; when the learner goes away mid-session its robot holds after the episode in
progress until a learner is back; Ctrl-C holds it at once. When the robot's link is lost (connection, stale
state, servos not answering), the robot holds and the actor waits --robot-wait (120 s) for it, then goes on;
a fault that needs a person (a servo's alarm) or a link that does not come back ends it with exit 1.`;

export interface ActorFlags {
  learner?: string;
  /** Episodes on a UR through rosbridge (robot-actor.ts), not in the embedded sim. */
  rosbridge?: string;
  /** With --rosbridge: the runtime's buffer margin (ticks), as vla-run --margin. */
  margin?: string;
  /** With --rosbridge: seconds to wait for a learner's setup before exit 2. */
  learnerWait?: string;
  /** On a robot: seconds to wait for a lost link to come back before exit 1. */
  robotWait?: string;
  /** With --rosbridge: a folder for every episode's MCAP file. */
  record?: string;
  /** With --rosbridge or --ports: a workspace box file (joints, flange) the safety filter holds every command to. */
  workspaceBox?: string;
  /** With --rosbridge: a person starts and judges each episode (keys from this terminal, or the learner's). */
  keyboard?: boolean;
  /** With --keyboard: a detector's std_msgs/Bool topic that says success in place of the s key. */
  successTopic?: string;
  /** Where --success-topic is published (default: the UR's --rosbridge; required on the ALOHA arms). */
  successRosbridge?: string;
  /** Episodes on the ALOHA arms over serial: left=PATH,right=PATH (robot-actor.ts). */
  ports?: string;
  /** With --ports: the Dynamixel emulator's sim link (episodes, success, task state). */
  simLink?: string;
  /** With --ports: the folder of the arms' calibration files (a real rig). */
  calibration?: string;
  /** With --ports: the leader arms, left=PATH,right=PATH (a takeover hands the followers to them). */
  leaderPorts?: string;
  base?: string;
  name?: string;
  curveServerKey?: string;
  curveClientKey?: string;
}

/** `vla-finetune actor`: runs until the learner says bye (0), refuses a setup (2), or a signal (130, 143). */
export async function actorCommand(o: ActorFlags): Promise<void> {
  const learner = endpointArg('--learner', o.learner);
  if (!learner)
    throw new UsageError('--learner tcp://HOST:PORT is required (where vla-finetune --learner-bind listens)');
  const log = (line: string) => process.stderr.write(`vla-finetune actor: ${line}\n`);
  const worker = new ActorWorker({
    learner,
    ...(o.name ? { name: o.name } : {}),
    ...(o.base ? { base_path: o.base } : {}),
    ...(await actorCurve(o)),
    ...robotActor(o),
    log,
  });
  const onSignal = (signal: StopSignal) => worker.stop({ code: signalExitCode(signal), message: 'interrupted' });
  const handlers = { SIGINT: () => onSignal('SIGINT'), SIGTERM: () => onSignal('SIGTERM') };
  process.once('SIGINT', handlers.SIGINT);
  process.once('SIGTERM', handlers.SIGTERM);
  // started by a learner: its going away without a bye (killed) ends this actor too
  const onOrphan = () => worker.stop({ code: 1, message: 'the learner process that started this actor is gone' });
  if (process.send) process.once('disconnect', onOrphan);
  const end = await worker.done;
  process.off('SIGINT', handlers.SIGINT);
  process.off('SIGTERM', handlers.SIGTERM);
  process.off('disconnect', onOrphan);
  if (process.connected) process.disconnect();
  const c = worker.counters;
  log(`${end.message} (${c.episodes} episodes, ${c.malformed} malformed messages dropped)`);
  if (end.code === 2) throw new UsageError(end.message);
  process.exitCode = end.code;
}

/**
 * With --rosbridge or --ports: the robot's runner, and a bounded wait for the learner (nothing moves before it
 * answers).
 */
function robotActor(o: ActorFlags): Pick<ActorWorkerOptions, 'runner' | 'robot'> {
  if (!o.rosbridge && !o.ports) {
    const robotOnly = [o.margin, o.learnerWait, o.robotWait, o.record, o.workspaceBox, o.keyboard, o.simLink];
    if ([...robotOnly, o.calibration, o.leaderPorts, o.successTopic, o.successRosbridge].some((x) => x !== undefined))
      throw new UsageError(
        '--margin, --learner-wait, --robot-wait, --record, --workspace-box, --keyboard, --success-topic, ' +
          '--sim-link, --calibration and --leader-ports are for a robot actor (--rosbridge or --ports)',
      );
    return {};
  }
  if (o.rosbridge && o.ports) throw new UsageError('--rosbridge drives a UR, --ports the ALOHA arms: give one');
  const margin_ticks = intArg('--margin', o.margin ?? '2', 0, 1000);
  const wait_s = numArg('--learner-wait', o.learnerWait ?? '30', 0.1, 1e6);
  const robot_wait_s = numArg('--robot-wait', o.robotWait ?? String(ROBOT_WAIT_S), 0, 1e6);
  const log = createLogger({ name: 'vla-finetune actor' });
  const success = successTopicArg({ ...o }, o.rosbridge, o.keyboard ? 'keyboard' : undefined);
  return {
    runner: robotRunner(o.rosbridge ? rosStart(o.rosbridge, log) : alohaStart(alohaFlags(o), log), {
      margin_ticks,
      ...(o.record ? { record: o.record } : {}),
      ...(o.workspaceBox ? { workspace_box: o.workspaceBox } : {}),
      // started by a learner (an IPC channel): it reads the terminal and forwards the keys
      ...(o.keyboard ? { keyboard: process.send ? forwardedKeys() : terminalKeys() } : {}),
      ...(success
        ? { success_topic: { url: success.rosbridge ?? (o.rosbridge as string), topic: success.topic } }
        : {}),
    }),
    robot: { learner_wait_ms: wait_s * 1000, robot_wait_ms: robot_wait_s * 1000 },
  };
}

function alohaFlags(o: ActorFlags): Parameters<typeof alohaStart>[0] {
  const ports = bothArms('--ports', o.ports as string);
  const leaders = o.leaderPorts === undefined ? undefined : bothArms('--leader-ports', o.leaderPorts);
  return {
    ports,
    ...(leaders ? { leader_ports: leaders } : {}),
    ...(o.simLink ? { sim_link: o.simLink } : {}),
    ...(o.calibration ? { calibration_dir: o.calibration } : {}),
    allow_torque_off: false,
  };
}

async function actorCurve(
  o: ActorFlags,
): Promise<{ curve?: { server_key: string; public_key: string; secret_key: string } }> {
  const env = process.env[CURVE_ENV];
  if (env && !o.curveServerKey && !o.curveClientKey) return { curve: JSON.parse(env) };
  if (!o.curveServerKey && !o.curveClientKey) return {};
  if (!o.curveServerKey || !o.curveClientKey)
    throw new UsageError("CURVE needs both --curve-server-key (the learner's NAME.key) and --curve-client-key");
  const server = await readKeyFile(o.curveServerKey).catch(usage);
  const mine = await readKeyFile(o.curveClientKey).catch(usage);
  if (!mine.secret_key)
    throw new UsageError(`--curve-client-key ${o.curveClientKey}: no secret-key in it (give NAME.key_secret)`);
  return { curve: { server_key: server.public_key, public_key: mine.public_key, secret_key: mine.secret_key } };
}

export interface PoolFlags {
  /** Local actor processes; 0: only actors that join from elsewhere. */
  actors: number;
  /** Episodes in the learner's own thread, between its updates (LocalPool: no processes, no sockets). */
  in_process: boolean;
  bind: string;
  /** Given to each local actor process (a robot actor's connection: --rosbridge URL). */
  actor_args?: string[];
  wait_s: number;
  actor_timeout_s: number;
  curveSecretKey?: string;
  allowClientKey?: string[];
}

export interface StartedPool {
  pool: RolloutPool;
  startActors: () => void;
  /** Ctrl-C for the local actor processes (their own process group does not get the terminal's). */
  interruptActors: () => void;
  /** The local actor processes (a keyboard operator's keys are forwarded to them). */
  processes: () => readonly ChildProcess[];
  close: () => Promise<void>;
}

/** The pool a session runs on, and how to end it (its local actor processes with it). */
export async function startPool(
  f: PoolFlags,
  setup: ActorSetup,
  initial: Float32Array[],
  log: (line: string) => void,
): Promise<StartedPool> {
  if (f.in_process) {
    const pool = await LocalPool.create(setup, initial);
    return { pool, startActors: () => {}, interruptActors: () => {}, processes: () => [], close: () => pool.close() };
  }
  const learnerCurve = await learnerKeys(f);
  // local actors get a key pair of their own, made for this session and let in with the others
  const local = learnerCurve && f.actors > 0 ? curveKeyPair() : undefined;
  const curve = learnerCurve && {
    secret_key: learnerCurve.secret_key,
    allowed_client_keys: [...learnerCurve.allowed, ...(local ? [local.publicKey] : [])],
  };
  const pool = await ZmqPool.start({
    bind: f.bind,
    setup,
    ...(curve ? { curve } : {}),
    wait_ms: f.wait_s * 1000,
    actor_timeout_ms: f.actor_timeout_s * 1000,
    on_event: (e) => logEvent(e, log),
  }).catch((err: Error) => {
    throw new UsageError(`--learner-bind: ${err.message}`);
  });
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (local && learnerCurve)
    env[CURVE_ENV] = JSON.stringify({
      server_key: learnerCurve.public_key,
      public_key: local.publicKey,
      secret_key: local.secretKey,
    });
  const connect = reachableAs(pool.endpoint, '127.0.0.1');
  let closing = false;
  let alive = f.actors;
  // one local actor gone: its episodes run on the others once it is found silent; the last one gone ends the run
  // now (its message says why) rather than at the deadline
  const children: ChildProcess[] = [];
  const startActors = () => {
    for (let i = 1; i <= f.actors; i++)
      children.push(
        startActor(i, connect, f.actor_args ?? [], env, log, (why, code) => {
          alive--;
          if (closing) return;
          log(`local actor ${i} ${why}`);
          // exit 2: a setup it cannot run (a robot that is not there, another base model): the user's to fix
          const Fail = code === 2 ? UsageError : Error;
          if (alive === 0) pool.fail(new Fail(`local actor ${i} ${why}`));
        }),
      );
    const pids = children.map((c) => c.pid).join(', ');
    log(
      f.actors > 0
        ? `learner at ${pool.endpoint}, ${f.actors} local actor process(es) (pid ${pids})`
        : `learner at ${pool.endpoint}: waiting for actors; on each machine: vla-finetune actor --learner ` +
            reachableAs(pool.endpoint, hostname()),
    );
  };
  return {
    pool,
    startActors,
    // local actors are in a process group of their own: a Ctrl-C reaches them only this way (a robot's holds)
    interruptActors: () => {
      for (const c of children) c.kill('SIGINT');
    },
    processes: () => children,
    close: async () => {
      closing = true;
      const c = pool.counters;
      const malformed = Object.values(c.malformed).reduce((a, b) => a + (b ?? 0), 0);
      if (c.actors_lost || c.jobs_requeued || malformed || c.stale_results || c.refusals.length)
        log(
          `actors: ${c.episodes} episodes; ${c.actors_lost} lost, ${c.jobs_requeued} episode(s) run again, ` +
            `${c.refusals.length} refused the setup, ${malformed} malformed and ${c.stale_results} stale ` +
            'messages dropped',
        );
      await pool.close(); // bye: the actors exit 0
      await Promise.all(children.map((c) => ended(c, 5000)));
    },
  };
}

function startActor(
  i: number,
  endpoint: string,
  extra: string[],
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
  onUnexpectedExit: (why: string, code: number | null) => void,
): ChildProcess {
  const child = spawn(process.execPath, [BIN, 'actor', '--learner', endpoint, '--name', `local-${i}`, ...extra], {
    env,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    detached: true,
  });
  let last = '';
  let buffered = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    const lines = (buffered + text).split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines.filter(Boolean)) {
      last = line.replace(/^vla-finetune( actor)?: /, '');
      log(`[actor ${i}] ${last}`);
    }
  });
  let gone = false;
  const exit = (why: string, code: number | null) => {
    if (!gone) onUnexpectedExit(why, code);
    gone = true;
  };
  child.on('exit', (code, signal) => exit(`exited (${signal ?? `code ${code}`}): ${last || 'no message'}`, code));
  child.on('error', (err) => exit(`could not start: ${err.message}`, null));
  return child;
}

/** Waits for a child to exit; past `ms` it is killed. */
function ended(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function logEvent(e: PoolEvent, log: (line: string) => void): void {
  if (e.type === 'actor_ready') log(`actor ready: ${e.actor}`);
  else if (e.type === 'actor_back') log(`actor back: ${e.actor}`);
  else if (e.type === 'actor_refused') log(`actor refused the setup: ${e.actor}: ${e.reason}`);
  else if (e.type === 'actor_lost')
    log(`actor lost: ${e.actor}, silent ${(e.silent_ms / 1000).toFixed(1)} s; ${e.requeued} episode(s) run elsewhere`);
  else if (e.type === 'malformed') log(`dropped a malformed message (${e.kind}): ${e.message}`);
  else log(`warning: ${e.message}`);
}

async function learnerKeys(
  f: PoolFlags,
): Promise<{ secret_key: string; public_key: string; allowed: string[] } | undefined> {
  const allowed = f.allowClientKey ?? [];
  if (!f.curveSecretKey) {
    if (allowed.length) throw new UsageError('--allow-client-key needs --curve-secret-key');
    return undefined;
  }
  const mine = await readKeyFile(f.curveSecretKey).catch(usage);
  if (!mine.secret_key)
    throw new UsageError(`--curve-secret-key ${f.curveSecretKey}: no secret-key in it (give NAME.key_secret)`);
  if (allowed.length === 0 && f.actors === 0)
    throw new UsageError('--curve-secret-key needs --allow-client-key: the public keys of the actors let in');
  const keys: string[] = [];
  for (const path of allowed) {
    const isDir = await stat(path).then(
      (s) => s.isDirectory(),
      () => false,
    );
    const files = isDir ? (await readdir(path)).filter((n) => n.endsWith('.key')).map((n) => join(path, n)) : [path];
    if (files.length === 0) throw new UsageError(`--allow-client-key ${path}: no *.key files in that folder`);
    for (const file of files) keys.push((await readKeyFile(file).catch(usage)).public_key);
  }
  return { secret_key: mine.secret_key, public_key: mine.public_key, allowed: keys };
}

/** tcp://HOST:PORT (zmq:// is taken as tcp://), or undefined when not given. */
export function endpointArg(flag: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const e = value.replace(/^zmq:/i, 'tcp:');
  if (!/^tcp:\/\/[^:/]+:\d+$/.test(e) && !/^tcp:\/\/\[[^\]]+\]:\d+$/.test(e) && !/^ipc:\/\/.+/.test(e))
    throw new UsageError(`${flag} ${value}: expected tcp://HOST:PORT, e.g. tcp://10.0.0.5:5560`);
  return e;
}

const usage = (err: Error): never => {
  throw new UsageError(err.message);
};

/** left=PATH,right=PATH: both arms' ports, or a usage error naming the flag. */
function bothArms(flag: string, value: string): Record<AlohaSide, string> {
  let ports: ReturnType<typeof parseArmPorts>;
  try {
    ports = parseArmPorts(value);
  } catch (err) {
    if (err instanceof PortsArgError) throw new UsageError(err.message.replace(/^--ports/, flag));
    throw err;
  }
  if (!ports.left || !ports.right) throw new UsageError(`${flag} needs both arms: left=PATH,right=PATH`);
  return { left: ports.left, right: ports.right };
}
