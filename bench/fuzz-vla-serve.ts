// Fuzzing `vla-serve` (a child process serving the shipped ur5e model) through a real ZeroMQ DEALER: headers
// that are not JSON, of another protocol version or of the wrong shape; infer requests whose frames do not fit
// (counts, sizes, a NaN state, a JPEG that is not one, committed rows past the limit); requests over the size
// limit; byte mutations of valid headers. Every case is answered; afterwards a valid request still gets a
// finite chunk, and the server's stop log counts at least every rejection the fuzzer knows it caused.
import { resolve } from 'node:path';
import { Dealer } from 'zeromq';
import type { PolicyFacts } from '../protocols/policy-server/protocol.js';
import type { Rng } from '../src/util/rng.js';
import { logRecord, startChild } from './fuzz-child.js';
import { caseRng, describeCase, int, MUTATIONS, mutateBytes, pick, randomBytes, wrongValue } from './fuzz-mutate.js';

const MODEL = resolve(import.meta.dirname, '../../models/ur5e-pick-place.onnx');
type Kind = 'malformed' | 'version' | 'bad_request' | 'too_large' | 'other';

export interface ServeCase {
  kind: Kind;
  frames: Buffer[];
}

export interface ServeFuzzResult {
  seed: number;
  cases: number;
  crashes: number;
  sent: Record<Kind, number>;
  /** Rejections by error code, from the server's stop log. */
  rejected: Record<string, number>;
  /** A valid request after the fuzz: its chunk's length and whether every value is finite. */
  after: { values: number; finite: boolean };
  /** Cases whose reply was not the error code their kind calls for (first 10). */
  mismatched: string[];
  duration_s: number;
}

const head = (o: object) => Buffer.from(JSON.stringify(o));

/** A valid infer request for the served policy (zero state, grey frames). */
export function validInfer(f: PolicyFacts, id: number): Buffer[] {
  const cams = f.cameras.map((c) => ({ name: c.name, width: c.width, height: c.height, encoding: 'raw' as const }));
  const frames = f.cameras.map((c) => Buffer.alloc(c.width * c.height * 3, 128));
  const cameras = cams.map((c, i) => ({ ...c, bytes: frames[i].length }));
  const header = { v: 1, type: 'infer', id, tick: 10, state: f.state_dim ?? 0, cameras };
  return [head(header), Buffer.alloc(4 * (f.state_dim ?? 0)), ...frames];
}

/** An infer request that is well-formed but does not fit: the server must answer bad_request. */
function misfit(rng: Rng, f: PolicyFacts, id: number): Buffer[] {
  const frames = validInfer(f, id);
  const header = JSON.parse(frames[0].toString()) as Record<string, unknown> & { cameras: { bytes: number }[] };
  switch (int(rng, 0, 5)) {
    case 0:
      return frames.slice(0, int(rng, 1, frames.length - 1)); // frames missing
    case 1: {
      const state = new Float32Array(f.state_dim ?? 1);
      state[int(rng, 0, state.length - 1)] = pick(rng, [Number.NaN, Infinity, -Infinity]);
      return [frames[0], Buffer.from(state.buffer), ...frames.slice(2)];
    }
    case 2: {
      // a state of the wrong size (never the right one by chance)
      const n = int(rng, 0, 40);
      return [frames[0], Buffer.alloc(n === 4 * (f.state_dim ?? 0) ? n + 1 : n), ...frames.slice(2)];
    }
    case 3: {
      // a "JPEG" that is not one
      const junk = Buffer.concat([Buffer.from([0xff, 0xd8]), randomBytes(rng, int(rng, 0, 400))]);
      header.cameras[0] = { ...header.cameras[0], bytes: junk.length, encoding: 'jpeg' } as never;
      return [head(header), frames[1], junk, ...frames.slice(3)];
    }
    case 4:
      header.committed = 1000;
      return [head(header), ...frames.slice(1), Buffer.alloc(4)];
    default:
      header.cameras[0] = { ...header.cameras[0], width: 3 } as never; // another size than the model's
      return [head(header), ...frames.slice(1)];
  }
}

/** Case `index` of the run seeded `seed` against a server with these facts and size limit. */
export function serveCase(seed: number, index: number, f: PolicyFacts, max_bytes: number): ServeCase {
  const rng = caseRng(seed, index);
  const r = rng.next();
  const id = index;
  if (r < 0.01) return { kind: 'too_large', frames: [head({ v: 1, type: 'health', id }), Buffer.alloc(max_bytes)] };
  if (r < 0.2) return { kind: 'malformed', frames: [Buffer.concat([Buffer.from([0xff]), randomBytes(rng, 60)])] };
  if (r < 0.3) return { kind: 'version', frames: [head({ v: pick(rng, [0, 2, '1', null]), type: 'health', id })] };
  if (r < 0.5) {
    const wrong = pick<() => object>(rng, [
      () => ({ v: 1, type: pick(rng, ['', 'chunk', 'shutdown', 7]), id }),
      () => ({ v: 1, type: 'infer', id, tick: pick(rng, ['x', 1.5, null, []]), state: 3, cameras: [] }),
      () => ({ v: 1, type: 'infer', id, tick: 1, state: -1, cameras: wrongValue(rng) }),
      () => ({ v: 1, type: 'hello', id: pick(rng, [-1, 1.5, 'x']) }),
      () => ({ v: 1, type: 'infer', id, tick: 1, state: 0, cameras: Array.from({ length: 33 }, () => ({})) }),
    ])();
    return { kind: 'malformed', frames: [head(wrong)] };
  }
  if (r < 0.75) return { kind: 'bad_request', frames: misfit(rng, f, id) };
  const base = pick(rng, [head({ v: 1, type: 'hello', id, client: 'fuzz' }), head({ v: 1, type: 'health', id })]);
  const frames = [mutateBytes(rng, base, pick(rng, MUTATIONS), 32 * 1024)];
  if (rng.next() < 0.3) frames.push(randomBytes(rng, int(rng, 0, 64)));
  return { kind: 'other', frames };
}

export async function fuzzVlaServe(opts: { cases: number; seed: number }): Promise<ServeFuzzResult> {
  const t0 = performance.now();
  const server = await startChild('vla-serve.js', ['--policy', MODEL, '--bind', 'tcp://127.0.0.1:0', '--json']);
  const facts = server.ready.policy as PolicyFacts;
  const max_bytes = Number(server.ready.max_message_bytes);
  const sent: Record<Kind, number> = { malformed: 0, version: 0, bad_request: 0, too_large: 0, other: 0 };
  const dealer = new Dealer({ receiveTimeout: 10_000, sendTimeout: 5000, linger: 0 });
  dealer.connect(String(server.ready.endpoint));
  let last = -1;
  const mismatched: string[] = [];
  try {
    for (let i = 0; i < opts.cases; i++) {
      last = i;
      const c = serveCase(opts.seed, i, facts, max_bytes);
      sent[c.kind]++;
      await dealer.send(c.frames);
      // every case is answered (an error reply at least), so none can hang the server
      const [h] = await dealer.receive();
      const reply = JSON.parse(h.toString()) as { type: string; code?: string };
      if (c.kind !== 'other' && (reply.type !== 'error' || reply.code !== c.kind) && mismatched.length < 10)
        mismatched.push(`case ${i} (${c.kind}): ${h.toString().slice(0, 200)}`);
    }
    await dealer.send(validInfer(facts, 1_000_000));
    const [h, actions] = await dealer.receive();
    const reply = JSON.parse(h.toString()) as { type: string; message?: string };
    if (reply.type !== 'chunk') throw new Error(`a valid request after the fuzz got ${h.toString()}`);
    const values = new Float32Array(actions.buffer.slice(actions.byteOffset, actions.byteOffset + actions.length));
    const survived = server.alive();
    const { stderr } = await server.stop('SIGINT');
    const stopped = logRecord(stderr, 'stopped (', true);
    return {
      seed: opts.seed,
      cases: opts.cases,
      crashes: survived && stopped ? 0 : 1,
      sent,
      rejected: (stopped?.rejected ?? {}) as Record<string, number>,
      after: { values: values.length, finite: values.every(Number.isFinite) },
      mismatched,
      duration_s: Math.round((performance.now() - t0) / 100) / 10,
    };
  } catch (err) {
    const c = last >= 0 ? serveCase(opts.seed, last, facts, max_bytes) : undefined;
    throw new Error(
      `vla-serve fuzz, seed ${opts.seed}, case ${last} (${c?.kind}: ${c ? describeCase(c.frames[0]) : '-'}): ` +
        `${(err as Error).message}; server alive: ${server.alive()}; stderr: ${server.stderr().slice(-1500)}`,
    );
  } finally {
    dealer.close();
    await server.stop('SIGKILL');
  }
}
