// Future actions, one slot per control tick, in memory that the control-loop thread reads while the
// inference side writes (a SharedArrayBuffer; a plain ArrayBuffer when both run in one thread).
//
// A slot is valid only for the tick it is stamped with: the reader asks for "the action for tick k" and
// gets nothing if the slot holds another tick, so an action can never execute at the wrong tick.
// One writer, one reader. Each slot has a sequence number (odd while being written); the reader retries
// if it changed under it, so it never sees half an action.

/** Ticks the ring can hold ahead of the control loop (~10 s at 50 Hz). */
export const DEFAULT_RING_TICKS = 512;

// per slot: tick, chunk id (of the newest prediction), predictions blended in, weight sum, the action's index
// inside that newest chunk (how far ahead it was planned: a residual corrects stale plans more)
const META = 5;
const M_TICK = 0,
  M_CHUNK = 1,
  M_COUNT = 2,
  M_WEIGHT = 3,
  M_INDEX = 4;
const HEADER = 4; // Int32: executed tick, hold request, last chunk id, reserved (keeps the Float64 part 8-aligned)
export const H_EXECUTED = 0;
export const H_HOLD = 1;
/** Id of the newest chunk the writer has started to insert (the reader can refuse everything up to it). */
export const H_LAST_CHUNK = 2;

export interface RingLayout {
  capacity: number;
  dim: number;
  /** Values of features each chunk carries (a base model's features output, for a residual); default 0. */
  features?: number;
}

/** Chunks whose features are kept: the residual reads those of the chunk its tick's action came from. */
const FEATURE_SLOTS = 8;

export function ringBytes({ capacity, dim, features = 0 }: RingLayout): number {
  const table = features > 0 ? 4 * FEATURE_SLOTS + 8 * FEATURE_SLOTS * (1 + features) : 0;
  return 4 * (HEADER + capacity) + 8 * capacity * (META + dim) + table;
}

export interface SlotRead {
  found: boolean;
  chunk_id: number;
  /** Index of the action inside its (newest) chunk, 0 = the chunk's first action. */
  chunk_index?: number;
}

export class ActionRing {
  readonly capacity: number;
  readonly dim: number;
  /** Shared control words: H_EXECUTED (last tick the control loop executed), H_HOLD. */
  readonly header: Int32Array;
  private readonly seq: Int32Array;
  private readonly meta: Float64Array;
  private readonly values: Float64Array;
  /** Features per chunk: FEATURE_SLOTS slots of [chunk id, values...], each with its sequence number. */
  readonly features: number;
  private readonly fseq: Int32Array;
  private readonly fvalues: Float64Array;

  constructor(
    readonly buffer: SharedArrayBuffer | ArrayBuffer,
    layout: RingLayout,
  ) {
    if (buffer.byteLength < ringBytes(layout))
      throw new Error(`action ring needs ${ringBytes(layout)} bytes, got ${buffer.byteLength}`);
    this.capacity = layout.capacity;
    this.dim = layout.dim;
    this.header = new Int32Array(buffer, 0, HEADER);
    this.seq = new Int32Array(buffer, 4 * HEADER, layout.capacity);
    const f64 = 4 * (HEADER + layout.capacity); // a multiple of 8 because HEADER is even
    this.meta = new Float64Array(buffer, f64, layout.capacity * META);
    this.values = new Float64Array(buffer, f64 + 8 * layout.capacity * META, layout.capacity * layout.dim);
    this.features = layout.features ?? 0;
    const table = f64 + 8 * layout.capacity * (META + layout.dim); // still a multiple of 8
    const F = this.features;
    this.fseq = F > 0 ? new Int32Array(buffer, table, FEATURE_SLOTS) : new Int32Array(0);
    this.fvalues =
      F > 0 ? new Float64Array(buffer, table + 4 * FEATURE_SLOTS, FEATURE_SLOTS * (1 + F)) : new Float64Array(0);
  }

  /** Keep `values` as the features of chunk `chunk_id` (writer side; the oldest of FEATURE_SLOTS is replaced). */
  writeFeatures(chunk_id: number, values: ArrayLike<number>): void {
    if (this.features === 0 || values.length !== this.features) return;
    const i = chunk_id % FEATURE_SLOTS;
    const at = i * (1 + this.features);
    Atomics.add(this.fseq, i, 1);
    this.fvalues[at] = chunk_id;
    for (let j = 0; j < this.features; j++) this.fvalues[at + 1 + j] = values[j];
    Atomics.add(this.fseq, i, 1);
  }

  /** The features of chunk `chunk_id` into `out` (reader side); false when they are not (or no longer) kept. */
  readFeatures(chunk_id: number, out: Float64Array | Float32Array): boolean {
    if (this.features === 0 || chunk_id < 0) return false;
    const i = chunk_id % FEATURE_SLOTS;
    const at = i * (1 + this.features);
    for (;;) {
      const s1 = Atomics.load(this.fseq, i);
      if (s1 & 1) continue;
      const id = this.fvalues[at];
      for (let j = 0; j < this.features; j++) out[j] = this.fvalues[at + 1 + j];
      if (Atomics.load(this.fseq, i) === s1) return id === chunk_id;
    }
  }

  static create(layout: RingLayout, shared = true): ActionRing {
    const buf = shared ? new SharedArrayBuffer(ringBytes(layout)) : new ArrayBuffer(ringBytes(layout));
    const ring = new ActionRing(buf, layout);
    ring.clear();
    ring.fvalues.fill(-1); // no chunk's features yet (chunk ids start at 0)
    return ring;
  }

  /** Forget every slot (a new episode). */
  clear(): void {
    for (let i = 0; i < this.capacity; i++) {
      this.beginWrite(i);
      this.meta[i * META + M_TICK] = -1;
      this.meta[i * META + M_COUNT] = 0;
      this.endWrite(i);
    }
    Atomics.store(this.header, H_EXECUTED, -1);
  }

  /** The last tick the control loop executed (-1 before the first). */
  executedTick(): number {
    return Atomics.load(this.header, H_EXECUTED);
  }

  markExecuted(tick: number): void {
    Atomics.store(this.header, H_EXECUTED, tick);
  }

  // ---- reader side (control loop) ----

  /** Copy the action for `tick` into `out`. found=false if the ring has no action for exactly that tick. */
  read(tick: number, out: Float64Array, result: SlotRead = { found: false, chunk_id: -1 }): SlotRead {
    const i = this.index(tick);
    const m = i * META,
      v = i * this.dim;
    for (;;) {
      const s1 = Atomics.load(this.seq, i);
      if (s1 & 1) continue; // being written right now: the writer never takes long
      const stamped = this.meta[m + M_TICK];
      const weight = this.meta[m + M_WEIGHT];
      const count = this.meta[m + M_COUNT];
      result.chunk_id = this.meta[m + M_CHUNK];
      result.chunk_index = this.meta[m + M_INDEX];
      for (let j = 0; j < this.dim; j++) out[j] = this.values[v + j] / weight;
      if (Atomics.load(this.seq, i) !== s1) continue;
      result.found = stamped === tick && count > 0;
      return result;
    }
  }

  // ---- writer side (action buffer) ----

  /** Whether the ring holds an action for exactly `tick`. */
  has(tick: number): boolean {
    const i = this.index(tick);
    return this.meta[i * META + M_TICK] === tick && this.meta[i * META + M_COUNT] > 0;
  }

  /** Number of predictions blended into the slot of `tick` (0 when it holds no action for that tick). */
  predictions(tick: number): number {
    return this.has(tick) ? this.meta[this.index(tick) * META + M_COUNT] : 0;
  }

  /** The (blended) action stored for `tick`; callers check has(tick) first. */
  peek(tick: number, out: Float32Array | Float64Array, offset = 0): void {
    const i = this.index(tick);
    const w = this.meta[i * META + M_WEIGHT];
    for (let j = 0; j < this.dim; j++) out[offset + j] = this.values[i * this.dim + j] / w;
  }

  /**
   * Store `weight * action` into the slot of `tick`: as the only prediction (`accumulate` false) or
   * added to the predictions already there (a weighted sum; the reader divides by the total weight).
   */
  write(
    tick: number,
    action: ArrayLike<number>,
    offset: number,
    chunk_id: number,
    weight: number,
    accumulate: boolean,
    chunk_index = 0,
  ): void {
    const i = this.index(tick);
    const m = i * META,
      v = i * this.dim;
    const keep = accumulate && this.meta[m + M_TICK] === tick && this.meta[m + M_COUNT] > 0;
    this.beginWrite(i);
    if (keep) {
      for (let j = 0; j < this.dim; j++) this.values[v + j] += weight * action[offset + j];
      this.meta[m + M_WEIGHT] += weight;
      this.meta[m + M_COUNT] += 1;
    } else {
      for (let j = 0; j < this.dim; j++) this.values[v + j] = weight * action[offset + j];
      this.meta[m + M_WEIGHT] = weight;
      this.meta[m + M_COUNT] = 1;
    }
    this.meta[m + M_TICK] = tick;
    this.meta[m + M_CHUNK] = chunk_id;
    this.meta[m + M_INDEX] = chunk_index;
    this.endWrite(i);
  }

  private index(tick: number): number {
    return ((tick % this.capacity) + this.capacity) % this.capacity;
  }

  private beginWrite(i: number): void {
    Atomics.add(this.seq, i, 1);
  }

  private endWrite(i: number): void {
    Atomics.add(this.seq, i, 1);
  }
}
