// What the control loop did at every tick, in shared memory for the other side to read: the tick, the
// state the command was computed from, the command, where it came from and the health. The control
// thread writes one record per tick and wakes readers (Atomics.notify): no message, no allocation. The
// reader (the episode engine on the main thread, its recorder) drains every record since its last look,
// so a main thread busy for a while still sees every tick, up to CAPACITY of them.
import { HEALTH, type Health, type JointState } from '../../../drivers/driver.js';
import { COMMAND_SOURCES, type CommandSource } from './ticker.js';

/** Records kept (~20 s at 50 Hz). */
const CAPACITY = 1024;
const I_WRITTEN = 0;
const I_HEADER = 2; // Int32 words (8 bytes: keeps the Float64 part aligned)
const F_LAST_FAULT_START = 0;
const F_HEADER = 2;
// record: tick, measured at, health, source, executed at, then position, velocity, gripper, command
const R_TICK = 0,
  R_T = 1,
  R_HEALTH = 2,
  R_SOURCE = 3,
  R_EXEC = 4,
  R_FIXED = 5;

export interface BoardShape {
  joints: number;
  grippers: number;
  dim: number;
}

/** One tick as the reader sees it (a view reused from record to record). */
export interface TickRecord {
  tick: number;
  /** When the control loop executed this tick: monotonic ms (on the virtual clock, its time). */
  t_ms: number;
  health: Health;
  source: CommandSource;
  /** The state the command was computed from. */
  state: JointState;
  /** The command written at this tick (after safety), or null when nothing was written. */
  command: Float64Array | null;
}

export class TickBoard {
  readonly buffer: SharedArrayBuffer;
  private readonly head: Int32Array;
  private readonly fhead: Float64Array;
  private readonly rec: Float64Array;
  private readonly stride: number;
  private readonly view: TickRecord;
  private readonly command: Float64Array;

  constructor(
    readonly shape: BoardShape,
    buffer?: SharedArrayBuffer,
  ) {
    this.stride = R_FIXED + 2 * shape.joints + shape.grippers + shape.dim;
    this.buffer = buffer ?? new SharedArrayBuffer(4 * I_HEADER + 8 * (F_HEADER + CAPACITY * this.stride));
    this.head = new Int32Array(this.buffer, 0, I_HEADER);
    this.fhead = new Float64Array(this.buffer, 4 * I_HEADER, F_HEADER);
    this.rec = new Float64Array(this.buffer, 4 * I_HEADER + 8 * F_HEADER, CAPACITY * this.stride);
    this.command = new Float64Array(shape.dim);
    this.view = {
      tick: 0,
      t_ms: NaN,
      health: 'ok',
      source: 'startup',
      command: null,
      state: {
        t_mono_ms: 0,
        position_rad: new Float64Array(shape.joints),
        velocity_rad_s: new Float64Array(shape.joints),
        gripper: new Float64Array(shape.grippers),
      },
    };
  }

  get written(): number {
    return Atomics.load(this.head, I_WRITTEN);
  }
  /** When the latest stretch of non-ok health began (monotonic ms; -Infinity: never). */
  get lastFaultStart_ms(): number {
    return this.fhead[F_LAST_FAULT_START];
  }

  // ---- writer (control loop) ----

  faultStarted(t_ms: number): void {
    this.fhead[F_LAST_FAULT_START] = t_ms;
  }

  reset(): void {
    this.fhead[F_LAST_FAULT_START] = -Infinity;
  }

  publish(
    tick: number,
    state: JointState,
    health: Health,
    source: CommandSource,
    command: Float64Array | null,
    now_ms = NaN,
  ): void {
    const n = this.written;
    let o = (n % CAPACITY) * this.stride;
    const r = this.rec;
    r[o + R_TICK] = tick;
    r[o + R_T] = state.t_mono_ms;
    r[o + R_EXEC] = now_ms;
    r[o + R_HEALTH] = HEALTH.indexOf(health);
    r[o + R_SOURCE] = COMMAND_SOURCES.indexOf(source);
    o += R_FIXED;
    r.set(state.position_rad, o);
    o += state.position_rad.length;
    r.set(state.velocity_rad_s, o);
    o += state.velocity_rad_s.length;
    r.set(state.gripper, o);
    o += state.gripper.length;
    if (command) r.set(command, o);
    else r[o] = NaN;
    Atomics.store(this.head, I_WRITTEN, n + 1);
    Atomics.notify(this.head, I_WRITTEN);
  }

  // ---- reader ----

  /** Resolves once more than `seen` records were written (at once if they were). */
  async waitPast(seen: number, timeout_ms: number): Promise<void> {
    const w = Atomics.waitAsync(this.head, I_WRITTEN, seen, timeout_ms);
    if (w.async) await w.value;
  }

  /** Calls `visit` for every record from `from` (a count of records) to the newest; returns the new count. */
  drain(from: number, visit: (r: TickRecord) => void): number {
    const to = this.written;
    for (let n = Math.max(from, to - CAPACITY); n < to; n++) this.load(n, visit);
    return to;
  }

  private load(n: number, visit: (r: TickRecord) => void): void {
    let o = (n % CAPACITY) * this.stride;
    const r = this.rec,
      v = this.view,
      s = v.state;
    v.tick = r[o + R_TICK];
    v.t_ms = r[o + R_EXEC];
    s.t_mono_ms = r[o + R_T];
    v.health = HEALTH[r[o + R_HEALTH]];
    v.source = COMMAND_SOURCES[r[o + R_SOURCE]];
    o += R_FIXED;
    s.position_rad.set(r.subarray(o, o + s.position_rad.length));
    o += s.position_rad.length;
    s.velocity_rad_s.set(r.subarray(o, o + s.velocity_rad_s.length));
    o += s.velocity_rad_s.length;
    s.gripper.set(r.subarray(o, o + s.gripper.length));
    o += s.gripper.length;
    this.command.set(r.subarray(o, o + this.command.length));
    v.command = Number.isNaN(this.command[0]) ? null : this.command;
    // the writer may have lapped this record while it was read: then it is gone
    if (this.written - n <= CAPACITY) visit(v);
  }
}
