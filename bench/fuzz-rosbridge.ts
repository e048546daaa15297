// Fuzzing the rosbridge endpoint of `vla-sim serve` (a child process) over a real WebSocket: random bytes,
// byte-level mutations of valid requests, structurally broken motion commands (NaN, wrong lengths, wrong
// types, missing joints), binary and oversized frames. Afterwards: the process still answers a service call,
// the arm has not moved (its /joint_states and the cell's count of accepted commands), and the server counted
// every drop whose reason the fuzzer knows independently (not JSON, binary, oversized, refused commands).
import { WebSocket } from 'ws';
import { defaultRosSettings } from '../calibration/ros-settings.js';
import type { Rng } from '../src/util/rng.js';
import { logRecord, startChild } from './fuzz-child.js';
import { caseRng, describeCase, int, MUTATIONS, mutateBytes, pick, randomBytes, wrongValue } from './fuzz-mutate.js';

const TOPICS = defaultRosSettings('ros2').topics;
/** The server's default limit (sim/rosbridge/rosbridge-server.ts). */
const MAX_MESSAGE_BYTES = 1 << 20;

export interface RosbridgeFuzzResult {
  seed: number;
  cases: number;
  /** 1 when the server was gone before it was asked to stop, or stopped without its summary. */
  crashes: number;
  exit_code: number | null;
  /** What the fuzzer sent that the server must drop, by reason. */
  sent: { not_json: number; binary: number; oversized: number; bad_motion: number };
  /** What the server counted (its stop log). */
  dropped_in: Record<string, number>;
  commands_received: number;
  max_joint_change_rad: number;
  duration_s: number;
}

type Case = { kind: keyof RosbridgeFuzzResult['sent'] | 'other'; data: Buffer | string; binary?: boolean };

/** Requests that are valid and move nothing, whatever they subscribe to. */
function harmless(rng: Rng): Record<string, unknown> {
  return pick(rng, [
    { op: 'subscribe', topic: '/fuzz/chatter', type: 'std_msgs/String', id: `s${int(rng, 0, 9)}` },
    { op: 'unsubscribe', topic: '/fuzz/chatter', id: `s${int(rng, 0, 9)}` },
    { op: 'advertise', topic: '/fuzz/chatter', type: 'std_msgs/String' },
    { op: 'publish', topic: '/fuzz/chatter', msg: { data: 'hello' } },
    { op: 'call_service', service: '/rosapi/subscribers', args: { topic: TOPICS.joint_states }, id: 'c1' },
  ]);
}

/** A motion command that is invalid by construction: the cell must refuse it (and so must the server). */
function badMotion(rng: Rng): Record<string, unknown> {
  const six = () => Array.from({ length: 6 }, () => rng.uniform(-0.1, 0.1));
  const broken = (): unknown[] => {
    const v: unknown[] = six();
    const r = rng.next();
    if (r < 0.3) return v.slice(0, int(rng, 0, 5));
    if (r < 0.5) return [...v, ...six()].slice(0, int(rng, 7, 12));
    v[int(rng, 0, 5)] = pick(rng, [null, 'NaN', 'Infinity', [], {}, true, '0.1']);
    return v;
  };
  const r = rng.next();
  if (r < 0.4) {
    const data = rng.next() < 0.8 ? broken() : wrongValue(rng);
    const ok = Array.isArray(data) && data.length === 6 && data.every((x) => typeof x === 'number');
    return { op: 'publish', topic: TOPICS.forward_position_commands, msg: { data: ok ? broken() : data } };
  }
  if (r < 0.8) {
    const joint_names = defaultRosSettings('ros2').joint_names.slice();
    const point: Record<string, unknown> = { positions: six(), time_from_start: { sec: 0, nanosec: 20_000_000 } };
    const msg: Record<string, unknown> = { joint_names, points: [point] };
    const how = int(rng, 0, 4);
    if (how === 0) point.positions = broken();
    else if (how === 1) joint_names.splice(int(rng, 0, 5), 1, 'not_a_joint');
    else if (how === 2) msg.points = pick(rng, [[], null, 'points', [1, 2]]);
    else if (how === 3) point.time_from_start = pick(rng, [{ sec: -1, nanosec: 0 }, 'soon', null]);
    else msg.joint_names = wrongValue(rng);
    return { op: 'publish', topic: TOPICS.joint_trajectory, msg };
  }
  return { op: 'publish', topic: TOPICS.gripper_command, msg: { data: pick(rng, [null, 'NaN', '0.5', [0.5], {}]) } };
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Case `index` of the run seeded `seed`. */
export function rosbridgeCase(seed: number, index: number): Case {
  const rng = caseRng(seed, index);
  const r = rng.next();
  if (r < 0.005) return { kind: 'oversized', data: 'x'.repeat(MAX_MESSAGE_BYTES + int(rng, 1, 1000)) };
  if (r < 0.05) return { kind: 'binary', data: randomBytes(rng, int(rng, 1, 200)), binary: true };
  if (r < 0.35) return { kind: 'bad_motion', data: JSON.stringify(badMotion(rng)) };
  if (r < 0.45) {
    // JSON that is not a request: arrays, scalars, unknown ops, bad names, a msg that is not an object
    const text = JSON.stringify(
      pick(rng, [
        wrongValue(rng),
        { op: pick(rng, ['', 'PUBLISH', 'status', 'set_level', null, 7]), topic: '/fuzz/chatter' },
        { op: 'publish', topic: pick(rng, ['', 'no spaces', '/a/../b', 7, null, '/x'.repeat(200)]), msg: {} },
        { op: 'publish', topic: '/fuzz/chatter', msg: wrongValue(rng) },
        { op: 'subscribe', topic: '/fuzz/chatter', throttle_rate: 1e12, queue_length: 1e9, type: 'bad type' },
      ]),
    );
    return { kind: isJson(text) ? 'other' : 'not_json', data: text };
  }
  // byte-level mutations of a valid request (harmless ones: a mutated motion command could still be valid)
  const base = Buffer.from(JSON.stringify(rng.next() < 0.8 ? harmless(rng) : badMotion(rng)));
  const kind = pick(
    rng,
    MUTATIONS.filter((m) => m !== 'huge'),
  );
  const text = mutateBytes(rng, base, kind).toString('utf8');
  return { kind: isJson(text) ? 'other' : 'not_json', data: text };
}

export async function fuzzRosbridge(opts: {
  cases: number;
  seed: number;
  log?: (m: string) => void;
}): Promise<RosbridgeFuzzResult> {
  const t0 = performance.now();
  const server = await startChild('vla-sim.js', [
    'serve',
    ...['--robot', 'ur5e', '--rosbridge', '0', '--json', '--camera-hz', '0', '--publisher-connect-ms', '0'],
  ]);
  const sent = { not_json: 0, binary: 0, oversized: 0, bad_motion: 0 };
  let last = -1;
  try {
    const url = String(server.ready.url);
    const observer = await Observer.open(url);
    const before = await observer.jointsAfter(performance.now());
    let fuzzer = await openSocket(url);
    for (let i = 0; i < opts.cases; i++) {
      last = i;
      const c = rosbridgeCase(opts.seed, i);
      if (c.kind !== 'other') sent[c.kind]++;
      if (fuzzer.readyState !== WebSocket.OPEN) fuzzer = await openSocket(url);
      fuzzer.send(c.data, { binary: c.binary === true });
      if (c.kind === 'oversized') await new Promise((r) => fuzzer.once('close', r));
      if (i % 100 === 99 || i === opts.cases - 1) {
        await observer.ping(`case ${i}`);
        if (i % 5000 === 4999) opts.log?.(`rosbridge: ${i + 1} cases`);
      }
    }
    fuzzer.close();
    const after = await observer.jointsAfter(performance.now());
    observer.close();
    const max_change = Math.max(...before.map((q, j) => Math.abs(q - after[j])));
    const survived = server.alive();
    const { code, stderr } = await server.stop('SIGINT');
    const stopped = logRecord(stderr, 'rosbridge endpoint stopped');
    if (!stopped) throw new Error(`vla-sim serve exited ${code} without its stop record: ${stderr.slice(-1500)}`);
    return {
      seed: opts.seed,
      cases: opts.cases,
      crashes: survived ? 0 : 1,
      exit_code: code,
      sent,
      dropped_in: stopped.dropped_in as Record<string, number>,
      commands_received: Number(stopped.commands_received),
      max_joint_change_rad: max_change,
      duration_s: Math.round((performance.now() - t0) / 100) / 10,
    };
  } catch (err) {
    const c = last >= 0 ? rosbridgeCase(opts.seed, last) : undefined;
    throw new Error(
      `rosbridge fuzz, seed ${opts.seed}, case ${last} (${c?.kind}: ${c ? describeCase(c.data) : '-'}): ` +
        `${(err as Error).message}; server alive: ${server.alive()}; stderr: ${server.stderr().slice(-1500)}`,
    );
  } finally {
    await server.stop('SIGKILL');
  }
}

function openSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** A well-behaved client beside the fuzzer: it watches /joint_states and checks the server still answers. */
class Observer {
  private joints: { t: number; q: number[] } | undefined;
  private readonly waiting = new Map<string, () => void>();
  private n = 0;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (d) => this.onMessage(String(d)));
  }

  static async open(url: string): Promise<Observer> {
    const o = new Observer(await openSocket(url));
    o.ws.send(JSON.stringify({ op: 'subscribe', topic: TOPICS.joint_states, throttle_rate: 50, id: 'observer' }));
    return o;
  }

  /** Positions (arm and gripper, by message order) from a /joint_states that arrived after `t`. */
  async jointsAfter(t: number, timeout_ms = 5000): Promise<number[]> {
    const end = performance.now() + timeout_ms;
    while (!this.joints || this.joints.t <= t) {
      if (performance.now() > end) throw new Error('no /joint_states from the endpoint');
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.joints.q;
  }

  /** A service call that must be answered: the process is alive and serving. */
  ping(what: string, timeout_ms = 5000): Promise<void> {
    const id = `ping${this.n++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to a service call after ${what}`)), timeout_ms);
      this.waiting.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      this.ws.send(JSON.stringify({ op: 'call_service', service: '/rosapi/subscribers', id, args: { topic: 'x' } }));
    });
  }

  close(): void {
    this.ws.close();
  }

  private onMessage(text: string): void {
    const m = JSON.parse(text) as { op: string; id?: string; msg?: { name: string[]; position: number[] } };
    if (m.op === 'service_response' && m.id) this.waiting.get(m.id)?.();
    else if (m.op === 'publish' && m.msg) {
      // by name, so a reordered message compares the same joints
      const order = m.msg.name.map((_, i) => i).sort((a, b) => m.msg!.name[a].localeCompare(m.msg!.name[b]));
      this.joints = { t: performance.now(), q: order.map((i) => m.msg!.position[i]) };
    }
  }
}
