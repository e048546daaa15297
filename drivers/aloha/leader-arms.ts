// ALOHA's two leader arms (WidowX 250 s), the rig's teleoperation device: read each control cycle beside the
// followers, on their own buses, never written, and never waited for: a read goes out with a follower cycle when the
// last one has ended, so a slow or silent leader bus delays nothing of the followers'. What they give is the pose a
// person holds them in, in the followers' action layout (6 joints and the gripper per arm), and when it was read;
// whether it commands anything is decided above the driver. Reads allocate nothing (prepared once by AlohaArm).
import type { ArmCalibration } from '../../calibration/motor-calibration.js';
import { ALOHA_ARM_SIDES, ALOHA_JOINT_NAMES, type AlohaSide } from '../../protocols/aloha/motor-map.js';
import { monotonicMs } from '../../src/util/clock.js';
import type { AlohaArmOptions } from './aloha-arm.js';
import { AlohaArm } from './aloha-arm.js';

const JOINTS = ALOHA_JOINT_NAMES.length;
const PER_ARM = JOINTS + 1;

export interface LeaderArmsOptions {
  ports: Record<AlohaSide, string>;
  calibration: Record<AlohaSide, ArmCalibration>;
}

export class LeaderArms {
  /** Both arms' last pose, action layout: taken only from a read in which both arms answered. */
  readonly pose = new Float64Array(2 * PER_ARM);
  /** When `pose` was read (monotonicMs); -Infinity: never. */
  t_mono_ms = -Infinity;
  /** Reads that failed (timeouts, CRC errors after retries): the pose grows old meanwhile. */
  misses = 0;
  private readsOut = 0;
  private readsOk = 0;
  private readonly reading = new Float64Array(2 * PER_ARM);
  private idleWaiters: (() => void)[] = [];
  private readonly onRead = [(err?: Error) => this.readDone(0, err), (err?: Error) => this.readDone(1, err)];

  private constructor(private readonly arms: AlohaArm[]) {}

  /** Both leader arms, checked (every motor answers) and their calibration applied in software. */
  static async open(opts: LeaderArmsOptions, bus?: AlohaArmOptions['bus']): Promise<LeaderArms> {
    const arms: AlohaArm[] = [];
    try {
      for (const side of ALOHA_ARM_SIDES)
        arms.push(
          await AlohaArm.open({
            side,
            role: 'leader',
            port: opts.ports[side],
            calibration: opts.calibration[side],
            bus,
          }),
        );
    } catch (err) {
      for (const a of arms) await a.close();
      throw err;
    }
    return new LeaderArms(arms);
  }

  /** A read is on the wire. */
  get busy(): boolean {
    return this.readsOut > 0;
  }

  /** One read of both arms, in parallel, abandoned at `deadline_ms`; nothing if the last one is still out. */
  send(deadline_ms: number, timeout_ms?: number): void {
    if (this.busy) return;
    this.readsOut = this.arms.length;
    this.readsOk = 0;
    for (let a = 0; a < this.arms.length; a++) this.arms[a].sendRead(deadline_ms, this.onRead[a], timeout_ms);
  }

  /** Resolves once no read is out. */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    await this.idle();
    for (const a of this.arms) await a.close();
  }

  private readDone(a: number, err: Error | undefined): void {
    if (err === undefined) {
      const r = this.arms[a].reading();
      this.reading.set(r.position_rad, a * PER_ARM);
      this.reading[a * PER_ARM + JOINTS] = r.gripper;
      this.readsOk++;
    } else {
      this.misses++;
    }
    if (--this.readsOut > 0) return;
    if (this.readsOk === this.arms.length) {
      this.pose.set(this.reading);
      this.t_mono_ms = monotonicMs();
    }
    const waiters = this.idleWaiters;
    if (waiters.length === 0) return;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
