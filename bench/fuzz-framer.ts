// Fuzzing the Dynamixel framer (protocols/dynamixel/framer.ts) at unit level: streams of valid packets between
// garbage (random bytes, mutated packets with a broken CRC, headers with impossible or long LENs), cut into
// random reads. Every valid packet must come out, once, in order, with its bytes; nothing else may; the framer
// never throws and its buffer stays bounded. A partial packet before a silence must not hold back the next one.
import { crc16 } from '../protocols/dynamixel/crc.js';
import { PacketFramer } from '../protocols/dynamixel/framer.js';
import { InstructionWriter } from '../protocols/dynamixel/instructions.js';
import type { Rng } from '../src/util/rng.js';
import { caseRng, int, mutateBytes, pick, randomBytes } from './fuzz-mutate.js';

interface Expected {
  id: number;
  instruction: number;
  error: number;
  data: number[];
}

export interface FramerCase {
  stream: Buffer;
  expected: Expected[];
  /** Where to cut the stream into reads. */
  cuts: number[];
  /** A silence (ms) before the last valid packet, after a partial one that would hold it back. */
  stall_before_last: boolean;
}

const writer = new InstructionWriter();

/** Start offsets of every CRC-valid packet in `b` (an independent reading of the wire format). */
export function validPacketsIn(b: Uint8Array): number[] {
  const found: number[] = [];
  for (let i = 0; i + 7 <= b.length; i++) {
    if (b[i] !== 0xff || b[i + 1] !== 0xff || b[i + 2] !== 0xfd || b[i + 3] !== 0x00) continue;
    const len = b[i + 5] | (b[i + 6] << 8);
    const end = i + 7 + len;
    if (len < 3 || len > 1024 || end > b.length) continue;
    if (crc16(b, i, end - 2) === (b[end - 2] | (b[end - 1] << 8))) found.push(i);
  }
  return found;
}

/** `b` with the CRC of every valid packet in it broken, so it is garbage through and through. */
export function breakEveryCrc(b: Buffer): Buffer {
  for (let left = 8; left > 0; left--) {
    const at = validPacketsIn(b);
    if (at.length === 0) return b;
    for (const i of at) b[i + 7 + (b[i + 5] | (b[i + 6] << 8)) - 1] ^= 0xa5;
  }
  return b;
}

/** A valid instruction or status packet with random content (params that need byte stuffing included). */
function validPacket(rng: Rng): { bytes: Buffer; expected: Expected } {
  const id = int(rng, 0, 252);
  const n = int(rng, 0, 40);
  const params = Uint8Array.from({ length: n }, () => pick(rng, [0xff, 0xfd, 0x00, int(rng, 0, 255)]));
  if (rng.next() < 0.3) {
    const error = int(rng, 0, 255);
    const bytes = Buffer.from(writer.status(id, error, params));
    return { bytes, expected: { id, instruction: 0x55, error, data: [...params] } };
  }
  const instruction = pick(rng, [0x01, 0x02, 0x03, 0x06, 0x08, 0x82, 0x83, 0x92]);
  const bytes = Buffer.from(writer.packet(id, instruction, params));
  return { bytes, expected: { id, instruction, error: 0, data: [...params] } };
}

function garbage(rng: Rng): Buffer {
  const r = rng.next();
  if (r < 0.3) return randomBytes(rng, int(rng, 1, 64));
  const { bytes } = validPacket(rng);
  if (r < 0.45) {
    // a header with an impossible or a long LEN
    bytes[5] = int(rng, 0, 255);
    bytes[6] = pick(rng, [0, 3, 4, 0xff]);
    return bytes.subarray(0, int(rng, 7, bytes.length));
  }
  return mutateBytes(rng, bytes, pick(rng, ['bitflip', 'truncate', 'duplicate', 'splice'] as const));
}

/** Case `index` of the run seeded `seed`. */
export function framerCase(seed: number, index: number): FramerCase {
  const rng = caseRng(seed, index);
  const parts: Buffer[] = [];
  const expected: Expected[] = [];
  const starts: number[] = [];
  let at = 0;
  const segments = int(rng, 1, 12);
  for (let s = 0; s < segments; s++) {
    const g = breakEveryCrc(Buffer.from(garbage(rng)));
    parts.push(g);
    at += g.length;
    if (rng.next() < 0.7) {
      const v = validPacket(rng);
      parts.push(v.bytes);
      expected.push(v.expected);
      starts.push(at);
      at += v.bytes.length;
    }
  }
  let stream: Buffer = Buffer.concat(parts);
  // a valid packet may appear by accident across a seam: make it garbage too, unless it is one of ours
  for (const i of validPacketsIn(stream)) if (!starts.includes(i)) stream = breakEveryCrcAt(stream, i);
  const cuts = Array.from({ length: int(rng, 0, 8) }, () => int(rng, 0, stream.length)).sort((a, b) => a - b);
  return { stream, expected, cuts, stall_before_last: rng.next() < 0.3 };
}

function breakEveryCrcAt(b: Buffer, i: number): Buffer {
  b[i + 7 + (b[i + 5] | (b[i + 6] << 8)) - 1] ^= 0xa5;
  return b;
}

export interface FramerFuzzResult {
  seed: number;
  cases: number;
  packets_expected: number;
  packets_found: number;
  crc_errors: number;
  garbage_bytes: number;
  stale_drops: number;
  failures: string[];
}

/** Feeds each case (then 1100 idle zero bytes, which complete any false header) and compares. */
export function fuzzFramer(opts: { cases: number; seed: number }): FramerFuzzResult {
  const r: FramerFuzzResult = {
    ...{ seed: opts.seed, cases: opts.cases, packets_expected: 0, packets_found: 0 },
    ...{ crc_errors: 0, garbage_bytes: 0, stale_drops: 0, failures: [] },
  };
  for (let i = 0; i < opts.cases && r.failures.length < 5; i++) {
    const c = framerCase(opts.seed, i);
    const got: Expected[] = [];
    const framer = new PacketFramer((p) =>
      got.push({ id: p.id, instruction: p.instruction, error: p.error, data: [...p.data] }),
    );
    try {
      let from = 0;
      for (const cut of [...c.cuts, c.stream.length]) {
        framer.push(c.stream.subarray(from, cut), cut - from, 0);
        from = cut;
        if (framer.buffered > 8192) throw new Error(`buffered ${framer.buffered} bytes`);
      }
      if (c.stall_before_last) stallCase(framer, got, opts.seed * 7 + i);
      framer.push(new Uint8Array(1100), 1100, 1);
    } catch (err) {
      r.failures.push(`seed ${opts.seed} case ${i}: threw ${(err as Error).message}`);
      continue;
    }
    const want = c.stall_before_last ? [...c.expected, STALL_PACKET.expected] : c.expected;
    r.packets_expected += want.length;
    r.packets_found += got.length;
    r.crc_errors += framer.counters.crc_errors;
    r.garbage_bytes += framer.counters.garbage_bytes;
    r.stale_drops += framer.counters.stale_drops;
    if (JSON.stringify(got) !== JSON.stringify(want))
      r.failures.push(`seed ${opts.seed} case ${i}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
  return r;
}

const STALL_PACKET = (() => {
  const bytes = Buffer.from(writer.ping(7));
  return { bytes, expected: { id: 7, instruction: 0x01, error: 0, data: [] as number[] } };
})();

/** A header with a long LEN, silence, then a PING: the PING must come out at once, not after 1000 bytes. */
function stallCase(framer: PacketFramer, got: Expected[], seed: number): void {
  framer.push(new Uint8Array(1100), 1100, 0); // complete whatever the case left pending
  const rng = caseRng(seed, 0);
  const partial = Buffer.from([0xff, 0xff, 0xfd, 0x00, int(rng, 0, 252), 0x00, 0x04, ...randomBytes(rng, 5)]);
  framer.push(partial, partial.length, 0);
  const before = got.length;
  framer.push(STALL_PACKET.bytes, STALL_PACKET.bytes.length, 500);
  if (got.length !== before + 1) throw new Error('a partial packet before a silence held back the next packet');
}
