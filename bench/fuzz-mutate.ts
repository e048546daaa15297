// Seeded mutations for the fuzz tests and the fuzz benchmark: every case is drawn from a generator seeded with
// (seed, case index), so a failure names both and the same case comes back with the same two numbers.
import { Rng } from '../src/util/rng.js';

export const MUTATIONS = ['random', 'bitflip', 'truncate', 'duplicate', 'splice', 'huge'] as const;
export type Mutation = (typeof MUTATIONS)[number];

/** The generator of case `index` of a run seeded `seed`. */
export function caseRng(seed: number, index: number): Rng {
  return new Rng(seed * 1_000_003 + index);
}

export function int(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng.next() * (hi - lo + 1));
}

export function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[Math.floor(rng.next() * xs.length)];
}

export function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rng.next() * 256);
  return b;
}

/**
 * A byte-level mutation of `valid`: random bytes, bit flips, a truncation, a duplication, a splice of random
 * bytes, or a huge length (the frame repeated up to `huge_bytes`).
 */
export function mutateBytes(rng: Rng, valid: Buffer, kind: Mutation, huge_bytes = 1 << 16): Buffer {
  switch (kind) {
    case 'random':
      return randomBytes(rng, int(rng, 0, 256));
    case 'bitflip': {
      const b = Buffer.from(valid);
      const flips = int(rng, 1, 8);
      for (let i = 0; i < flips && b.length > 0; i++) b[int(rng, 0, b.length - 1)] ^= 1 << int(rng, 0, 7);
      return b;
    }
    case 'truncate':
      return valid.subarray(0, int(rng, 0, Math.max(0, valid.length - 1)));
    case 'duplicate':
      return Buffer.concat([valid, valid.subarray(int(rng, 0, valid.length))]);
    case 'splice': {
      const at = int(rng, 0, valid.length);
      return Buffer.concat([valid.subarray(0, at), randomBytes(rng, int(rng, 1, 32)), valid.subarray(at)]);
    }
    case 'huge': {
      const n = int(rng, huge_bytes >> 1, huge_bytes);
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i += Math.max(1, valid.length)) valid.copy(b, i);
      return b;
    }
  }
}

/** A JSON value of the wrong kind for any field: what a confused or hostile client sends instead. */
export function wrongValue(rng: Rng): unknown {
  return pick(rng, [
    null,
    true,
    -1,
    1e308,
    -1e308,
    'NaN',
    '',
    'x'.repeat(int(rng, 1, 300)),
    [],
    [1, 'a', null],
    {},
    { nested: { deeper: [[[]]] } },
    Array.from({ length: int(rng, 0, 2000) }, () => rng.next()),
  ]);
}

/** A copy of a JSON object with one field (at any depth) replaced by a wrong value, removed, or added. */
export function mutateJson(rng: Rng, valid: Record<string, unknown>): unknown {
  const copy = structuredClone(valid) as Record<string, unknown>;
  let node: Record<string, unknown> = copy;
  // walk down a random path of objects and arrays
  for (let depth = 0; depth < 4; depth++) {
    const keys = Object.keys(node);
    if (keys.length === 0 || rng.next() < 0.35) break;
    const next = node[pick(rng, keys)];
    if (typeof next !== 'object' || next === null) break;
    node = next as Record<string, unknown>;
  }
  const keys = Object.keys(node);
  const key = keys.length > 0 ? pick(rng, keys) : 'extra';
  const r = rng.next();
  if (r < 0.6) node[key] = wrongValue(rng);
  else if (r < 0.85) delete node[key];
  else node[`extra_${int(rng, 0, 9)}`] = wrongValue(rng);
  return copy;
}

/** The first `n` characters of a case, for a failure message. */
export function describeCase(b: Buffer | string, n = 160): string {
  const s = typeof b === 'string' ? b : b.toString('latin1');
  return JSON.stringify(s.length > n ? `${s.slice(0, n)}... (${s.length} chars)` : s);
}
