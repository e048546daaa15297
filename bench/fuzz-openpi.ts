// Fuzzing `vla-serve --protocol openpi` (a child process serving the shipped ur5e model) over real WebSockets:
// bytes that are not msgpack, text frames, msgpack of the wrong shape (missing keys, images of the wrong dtype
// or of 0x0, ndarrays whose shape and data disagree, a NaN state, deep nesting, extension types), messages over
// the size limit, and byte mutations of a valid observation. openpi answers a bad request with a text frame and
// close code 1011; afterwards a valid observation still gets finite actions, and the stop log counts the errors.
import { resolve } from 'node:path';
import { WebSocket } from 'ws';
import { NdArray, packb, unpackb } from '../protocols/openpi/msgpack-numpy.js';
import type { Rng } from '../src/util/rng.js';
import { logRecord, startChild } from './fuzz-child.js';
import { caseRng, describeCase, int, MUTATIONS, mutateBytes, pick, randomBytes } from './fuzz-mutate.js';

const MODEL = resolve(import.meta.dirname, '../../models/ur5e-pick-place.onnx');
/** The ur5e model's state: 6 joints and the gripper. */
const STATE_DIM = 7;
const MAX_MESSAGE_BYTES = 1_000_000;

type Kind = 'error' | 'oversized' | 'other';
export interface OpenpiCase {
  kind: Kind;
  data: Buffer | string;
}
interface Camera {
  key: string;
  width: number;
  height: number;
}

export interface OpenpiFuzzResult {
  seed: number;
  cases: number;
  crashes: number;
  sent: Record<Kind, number>;
  /** The server's counters, from its stop log. */
  server: Record<string, number>;
  after: { values: number; finite: boolean };
  /** 'error' cases that got actions instead of an error (first 10). */
  served_bad: string[];
  duration_s: number;
}

/** A valid observation for the served policy. */
export function validObservation(cameras: Camera[], state: ArrayLike<number> = new Float32Array(STATE_DIM)): Buffer {
  const msg: Record<string, NdArray | string> = {
    'observation/state': new NdArray(Float32Array.from(state), [state.length]),
    prompt: 'pick up the cube',
  };
  for (const c of cameras)
    msg[c.key] = new NdArray(new Uint8Array(c.width * c.height * 3).fill(100), [c.height, c.width, 3]);
  return Buffer.from(packb(msg));
}

/** An observation the server must refuse. */
function broken(rng: Rng, cameras: Camera[]): Buffer {
  const c = cameras[0];
  const image = (shape: number[], n = shape.reduce((a, b) => a * b, 1)) => new NdArray(new Uint8Array(n), shape);
  const variants: (() => unknown)[] = [
    () => ({ prompt: 'no images, no state' }),
    () => ({ 'observation/state': [1, 2, 3] }),
    () => ({ [c.key]: 'not an image', 'observation/state': new NdArray(new Float32Array(STATE_DIM), [STATE_DIM]) }),
    () => ({ [c.key]: image([0, 0, 3]), 'observation/state': [0, 0, 0, 0, 0, 0, 0] }),
    () => ({ [c.key]: image([c.height, c.width, 4]), 'observation/state': [0, 0, 0, 0, 0, 0, 0] }),
    () => ({ [c.key]: new NdArray(new Float64Array(3), [1, 1, 3]), 'observation/state': 'x' }),
    () => [1, 2, 3],
    () => 42,
  ];
  const r = rng.next();
  if (r < 0.15) {
    // a NaN in an otherwise valid observation
    const state = new Float32Array(STATE_DIM);
    state[int(rng, 0, STATE_DIM - 1)] = pick(rng, [Number.NaN, Infinity, -Infinity]);
    return validObservation(cameras, state);
  }
  if (r < 0.25) {
    // an ndarray whose shape promises more than its data: hand-written, as packb would refuse it
    const head = Buffer.from([0x81, 0xa1, 0x61, 0x84, 0xc4, 0x0b, ...Buffer.from('__ndarray__'), 0xc3]);
    const data = Buffer.from([0xc4, 0x04, 0x64, 0x61, 0x74, 0x61, 0xc4, 0x03, 1, 2, 3]);
    const dtype = Buffer.from([0xc4, 0x05, ...Buffer.from('dtype'), 0xa3, ...Buffer.from('|u1')]);
    const shape = Buffer.from([0xc4, 0x05, ...Buffer.from('shape'), 0x92, 0xcd, 0x10, 0x00, 0xcd, 0x10, 0x00]);
    return Buffer.concat([head, data, dtype, shape]);
  }
  if (r < 0.32) return Buffer.alloc(int(rng, 1000, 100_000), 0x91); // arrays nested a hundred thousand deep
  if (r < 0.38) return Buffer.from([0xd4, int(rng, 0, 127), 0]); // an extension type
  return Buffer.from(packb(pick(rng, variants)() as never));
}

/** Case `index` of the run seeded `seed`. */
export function openpiCase(seed: number, index: number, cameras: Camera[]): OpenpiCase {
  const rng = caseRng(seed, index);
  const r = rng.next();
  if (r < 0.01) return { kind: 'oversized', data: Buffer.alloc(MAX_MESSAGE_BYTES + int(rng, 1, 999)) };
  if (r < 0.15) return { kind: 'error', data: Buffer.concat([Buffer.from([0xc1]), randomBytes(rng, 50)]) };
  if (r < 0.2) return { kind: 'error', data: JSON.stringify({ observation: 'as text' }) };
  if (r < 0.6) return { kind: 'error', data: broken(rng, cameras) };
  const valid = validObservation(cameras);
  return { kind: 'other', data: mutateBytes(rng, valid, pick(rng, MUTATIONS), 64 * 1024) };
}

export async function fuzzOpenpi(opts: { cases: number; seed: number }): Promise<OpenpiFuzzResult> {
  const t0 = performance.now();
  const args = ['--protocol', 'openpi', '--policy', MODEL, '--bind', '127.0.0.1:0', '--max-message-mb', '1'];
  const server = await startChild('vla-serve.js', [...args, '--json']);
  const url = String(server.ready.url);
  const sent: Record<Kind, number> = { error: 0, oversized: 0, other: 0 };
  let last = -1;
  const served_bad: string[] = [];
  try {
    const { metadata } = await connect(url);
    const cameras = metadata.cameras as Camera[];
    for (let i = 0; i < opts.cases; i++) {
      last = i;
      const c = openpiCase(opts.seed, i, cameras);
      sent[c.kind]++;
      const { ws } = await connect(url);
      const answer = once(ws);
      ws.send(c.data, { binary: typeof c.data !== 'string' });
      const got = await answer; // actions, or the error text and the close (1009 for an oversized message)
      ws.terminate();
      if (c.kind !== 'other' && got.binary && served_bad.length < 10)
        served_bad.push(`case ${i} (${c.kind}): ${describeCase(c.data)}`);
    }
    const { ws } = await connect(url);
    const answer = once(ws);
    ws.send(validObservation(cameras));
    const reply = await answer;
    ws.close();
    if (!reply.binary) throw new Error(`a valid observation after the fuzz got: ${String(reply.data).slice(0, 300)}`);
    const values = actionsOf(reply.data as Buffer);
    const survived = server.alive();
    const { stderr } = await server.stop('SIGINT');
    const stopped = logRecord(stderr, 'stopped');
    return {
      seed: opts.seed,
      cases: opts.cases,
      crashes: survived && stopped ? 0 : 1,
      sent,
      server: Object.fromEntries(
        ['connections', 'requests', 'replies', 'errors'].map((k) => [k, Number(stopped?.[k] ?? -1)]),
      ),
      after: { values: values.length, finite: values.every(Number.isFinite) },
      served_bad,
      duration_s: Math.round((performance.now() - t0) / 100) / 10,
    };
  } catch (err) {
    const c = last >= 0 ? openpiCase(opts.seed, last, [{ key: 'observation/top', width: 1, height: 1 }]) : undefined;
    throw new Error(
      `openpi fuzz, seed ${opts.seed}, case ${last} (${c?.kind}: ${c ? describeCase(c.data) : '-'}): ` +
        `${(err as Error).message}; server alive: ${server.alive()}; stderr: ${server.stderr().slice(-1500)}`,
    );
  } finally {
    await server.stop('SIGKILL');
  }
}

/** A connection and the metadata map the server sends first. */
async function connect(url: string): Promise<{ ws: WebSocket; metadata: Record<string, unknown> }> {
  const ws = new WebSocket(url);
  const first = await new Promise<Buffer>((res, rej) => {
    ws.once('message', (d) => res(d as Buffer));
    ws.once('error', rej);
  });
  return { ws, metadata: unpackb(first) as Record<string, unknown> };
}

/** The next message, or the close (code and reason) when none comes. */
function once(ws: WebSocket): Promise<{ binary: boolean; data: Buffer | string }> {
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error('no answer within 10 s')), 10_000);
    ws.once('message', (d, binary) => {
      clearTimeout(timer);
      res({ binary, data: binary ? (d as Buffer) : String(d) });
    });
    ws.once('close', (code) => {
      clearTimeout(timer);
      res({ binary: false, data: `closed ${code}` });
    });
  });
}

function actionsOf(data: Buffer): number[] {
  // the reply is {actions: ndarray float32 [H, D], server_timing}
  const m = unpackb(data) as { actions?: NdArray };
  if (!(m.actions instanceof NdArray)) throw new Error('the reply has no actions array');
  return Array.from(m.actions.data as Float32Array);
}
