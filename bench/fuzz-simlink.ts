// Fuzzing the sim link of `vla-sim dynamixel` (a child process) through a real ZeroMQ REQ socket: bytes that
// are not JSON, several frames, JSON of the wrong shape, requests with out-of-range fields (a reset seed of -1,
// an alarm bit of 0, a hand pose with 5 joints...), requests for arms and cameras that do not exist, oversized
// frames, and byte mutations of harmless requests. Afterwards the emulator still answers, its servos and fault
// knobs are as before, and its counters hold at least every refusal the fuzzer knows it caused.
import { Request } from 'zeromq';
import { SimLinkClient } from '../protocols/sim-link/client.js';
import { SIM_LINK_MAX_REQUEST_BYTES } from '../protocols/sim-link/protocol.js';
import type { Rng } from '../src/util/rng.js';
import { startChild } from './fuzz-child.js';
import { compare, readAll } from './fuzz-dynamixel.js';
import { caseRng, describeCase, int, MUTATIONS, mutateBytes, pick, randomBytes, wrongValue } from './fuzz-mutate.js';

type Kind = 'bad' | 'failed' | 'oversized' | 'other';
export interface SimLinkCase {
  kind: Kind;
  frames: Buffer[];
}

export interface SimLinkFuzzResult {
  seed: number;
  cases: number;
  crashes: number;
  sent: Record<Kind, number>;
  /** The server's counters ({"op":"stats"}) at the end. */
  server: { requests: number; bad_requests: number; failed: number };
  changed: string[];
  faults_unchanged: boolean;
  duration_s: number;
}

/** Requests the schema must refuse: each has one field out of its range or of the wrong type. */
function invalid(rng: Rng): object {
  return pick<() => object>(rng, [
    () => ({ op: 'reset', seed: pick(rng, [-1, 1.5, 'x', null]) }),
    () => ({ op: 'alarm', arm: 'left', id: pick(rng, [-1, 253, 1.5]), bits: 4 }),
    () => ({ op: 'alarm', arm: 'left', id: 4, bits: pick(rng, [0, 256, 'x']) }),
    () => ({ op: 'hand', arm: 'left', position_rad: Array.from({ length: pick(rng, [0, 5, 7]) }, () => 0) }),
    () => ({ op: 'hand', arm: 'left', position_rad: [0, 0, 0, 0, 0, 4], timeout_ms: 10 }),
    () => ({ op: 'hand', arm: 'left', position_rad: [0, 0, 0, 0, 0, 0], timeout_ms: 1e9 }),
    () => ({ op: 'leader', arm: 'left', position_rad: [0, 0, 0, 0, 0, pick(rng, [4, -4, 'x'])], gripper: 0.5 }),
    () => ({ op: 'leader', arm: 'left', position_rad: [0, 0, 0, 0, 0, 0], gripper: pick(rng, [-0.1, 1.1, null]) }),
    () => ({ op: 'faults', crc_error_rate: pick(rng, [2, -0.1, 'x']) }),
    () => ({ op: 'faults', silent_ids: { left: [300] } }),
    () => ({ op: 'faults', surprise: 1 }),
    () => ({ op: 'frame', camera: 'top', size: pick(rng, [0, 4096, 'x']) }),
    () => ({ op: pick(rng, ['', 'HELLO', 'shutdown', 7, null]) }),
    () => wrongValueObject(rng),
  ])();
}

/** A JSON value that is not a request (an array, a scalar, an object without op). */
function wrongValueObject(rng: Rng): object {
  const v = wrongValue(rng);
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? { ...v, op: undefined } : { value: v };
}

/** Well-formed requests the emulator cannot do: they must be answered with the reason and change nothing. */
function undoable(rng: Rng): object {
  return pick(rng, [
    { op: 'alarm', arm: 'middle', id: 4, bits: 4 },
    { op: 'alarm', arm: 'left', id: 200, bits: 4 },
    { op: 'frame', camera: 'belly', size: 8 },
    { op: 'hand', arm: 'middle', position_rad: [0, 0, 0, 0, 0, 0], timeout_ms: 10 },
    // the fuzzed emulator has no leader arms
    { op: 'leader', arm: 'left', position_rad: [0, 0, 0, 0, 0, 0], gripper: 0.5 },
  ]);
}

const json = (o: object) => Buffer.from(JSON.stringify(o));

/** Case `index` of the run seeded `seed`. */
export function simLinkCase(seed: number, index: number): SimLinkCase {
  const rng = caseRng(seed, index);
  const r = rng.next();
  if (r < 0.01) return { kind: 'oversized', frames: [Buffer.alloc(SIM_LINK_MAX_REQUEST_BYTES + int(rng, 1, 999), 32)] };
  if (r < 0.15)
    return { kind: 'bad', frames: [Buffer.concat([Buffer.from([0xff]), randomBytes(rng, int(rng, 0, 99))])] };
  if (r < 0.2) return { kind: 'bad', frames: [json({ op: 'hello' }), randomBytes(rng, int(rng, 0, 30))] };
  if (r < 0.6) return { kind: 'bad', frames: [json(invalid(rng))] };
  if (r < 0.7) return { kind: 'failed', frames: [json(undoable(rng))] };
  const base = json(pick(rng, [{ op: 'hello' }, { op: 'status' }, { op: 'stats' }]));
  return { kind: 'other', frames: [mutateBytes(rng, base, pick(rng, MUTATIONS), 16 * 1024)] };
}

export async function fuzzSimLink(opts: { cases: number; seed: number }): Promise<SimLinkFuzzResult> {
  const t0 = performance.now();
  const emu = await startChild('vla-sim.js', ['dynamixel', '--robot', 'aloha', '--json', '--seed', '0']);
  const ports = emu.ready.ports as Record<string, string>;
  const address = String(emu.ready.sim_link);
  const link = new SimLinkClient(address, 5000);
  const sent: Record<Kind, number> = { bad: 0, failed: 0, oversized: 0, other: 0 };
  const scratch = { left: 0, right: 0 };
  const retries = { bus_retries: 0 };
  let last = -1;
  let req = fuzzSocket(address);
  try {
    await new Promise((r) => setTimeout(r, 500));
    const faults = JSON.stringify((await link.setFaults({})).faults);
    const before = { left: await readAll('left', ports.left, scratch, retries) };
    for (let i = 0; i < opts.cases; i++) {
      last = i;
      const c = simLinkCase(opts.seed, i);
      sent[c.kind]++;
      await req.send(c.frames);
      if (c.kind === 'oversized') {
        // libzmq drops the connection unread; this REQ never gets a reply: take a new one
        req.close();
        req = fuzzSocket(address);
      } else await req.receive();
    }
    const changed: string[] = [];
    compare('left', before.left, await readAll('left', ports.left, scratch, retries), changed);
    const after = JSON.stringify((await link.setFaults({})).faults);
    const { ok: _ok, ...server } = await link.stats();
    const survived = emu.alive();
    return {
      seed: opts.seed,
      cases: opts.cases,
      crashes: survived ? 0 : 1,
      sent,
      server,
      changed,
      faults_unchanged: after === faults,
      duration_s: Math.round((performance.now() - t0) / 100) / 10,
    };
  } catch (err) {
    const c = last >= 0 ? simLinkCase(opts.seed, last) : undefined;
    throw new Error(
      `sim link fuzz, seed ${opts.seed}, case ${last} (${c?.kind}: ${c ? describeCase(c.frames[0]) : '-'}): ` +
        `${(err as Error).message}; emulator alive: ${emu.alive()}; stderr: ${emu.stderr().slice(-1500)}`,
    );
  } finally {
    req.close();
    link.close();
    await emu.stop('SIGKILL');
  }
}

function fuzzSocket(address: string): Request {
  const s = new Request({ receiveTimeout: 5000, sendTimeout: 5000, linger: 0 });
  s.connect(address);
  return s;
}
