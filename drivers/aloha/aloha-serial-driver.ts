// The two ALOHA follower arms over serial, behind the Driver contract. Thin: per tick it writes the
// command and reads the state of both arms (in parallel, one bus each); limits, rate and timing live in
// the runtime. Each send()/hold() starts one cycle; a cycle still on the wire when the next command comes
// makes that command wait for the following cycle (latest wins), never a queue.
// Faults: a hardware alert latches the driver into holding (commands are ignored) and is reported on
// faults$ with the motor named; a failed read emits no state and is reported, and the hold that follows
// sends nothing until a read succeeds again.
import { Subject, type Observable } from 'rxjs';
import type { Driver, JointState, RobotDescription, CameraInfo } from '../driver.js';
import { AlohaArm, type AlohaArmOptions, type HardwareAlert } from './aloha-arm.js';
import { ALOHA_ARM_SIDES, ALOHA_JOINT_NAMES, type AlohaSide } from './motor-map.js';
import { alohaArms, ALOHA_MAX_VELOCITY_RAD_S } from '../../sim/robots/aloha.js';
import { loadArmCalibration, builtinAlohaCalibrationPath, type ArmCalibration } from '../../calibration/motor-calibration.js';
import { alohaMotors } from './motor-map.js';
import type { BusCounters } from '../dynamixel/bus.js';
import { monotonicMs } from '../../src/util/clock.js';

export interface AlohaSerialDriverOptions {
  ports: Record<AlohaSide, string>;
  /** Per arm; default: the emulator's shipped calibration (calibration/aloha/). */
  calibration?: Record<AlohaSide, ArmCalibration>;
  bus?: AlohaArmOptions['bus'];
  control_hz?: number;
  cameras?: CameraInfo[];
  /** describe().sim: true when the ports are the emulator's. */
  sim?: boolean;
}

export type AlohaFault =
  | { kind: 'hardware_alert'; alerts: HardwareAlert[] }
  | { kind: 'io'; arm: string; message: string };

const JOINTS = ALOHA_JOINT_NAMES.length;

export class AlohaSerialDriver implements Driver {
  readonly state$: Observable<JointState>;
  readonly faults$: Observable<AlohaFault>;
  /** Set by a hardware alert; the driver only holds from then on. */
  latched_fault: AlohaFault | undefined;
  /** Commands that found the previous cycle still running (they went out with the next cycle). */
  late_commands = 0;
  private readonly states = new Subject<JointState>();
  private readonly faultSubject = new Subject<AlohaFault>();
  private arms: AlohaArm[] = [];
  private readonly pending = new Float64Array(2 * (JOINTS + 1));
  private pendingKind: 'none' | 'send' | 'hold' = 'none';
  private cycling: Promise<void> | undefined;
  private tickCount = 0;
  private readonly prev = new Float64Array(2 * JOINTS);
  private prevMs = 0;

  static async create(opts: AlohaSerialDriverOptions): Promise<AlohaSerialDriver> {
    const calibration = opts.calibration ?? {
      left: await loadArmCalibration(builtinAlohaCalibrationPath('left'), alohaMotors('follower')),
      right: await loadArmCalibration(builtinAlohaCalibrationPath('right'), alohaMotors('follower')),
    };
    return new AlohaSerialDriver(opts, calibration);
  }

  private constructor(private readonly opts: AlohaSerialDriverOptions, private readonly calibration: Record<AlohaSide, ArmCalibration>) {
    this.state$ = this.states.asObservable();
    this.faults$ = this.faultSubject.asObservable();
  }

  describe(): RobotDescription {
    const arms = alohaArms();
    return {
      robot: 'aloha',
      sim: this.opts.sim ?? false,
      joint_names: arms.flatMap((a) => a.links.map((l) => a.prefix + l.joint)),
      gripper_names: arms.map((a) => `${a.prefix}gripper`),
      action_names: arms.flatMap((a) => [...a.links.map((l) => a.prefix + l.joint), `${a.prefix}gripper`]),
      position_limits_rad: arms.flatMap((a) => a.links.map((l) => [...l.range_rad] as [number, number])),
      velocity_limits_rad_s: arms.flatMap((a) => a.links.map(() => ALOHA_MAX_VELOCITY_RAD_S)),
      control_hz: this.opts.control_hz ?? 50,
      cameras: this.opts.cameras ?? [],
    };
  }

  /** Open both buses, write the calibration, torque on holding the current pose, emit tick 0. */
  async connect(): Promise<void> {
    if (this.arms.length) return;
    const arms: AlohaArm[] = [];
    try {
      for (const side of ALOHA_ARM_SIDES) {
        arms.push(await AlohaArm.open({ side, port: this.opts.ports[side], calibration: this.calibration[side], bus: this.opts.bus }));
      }
      for (const a of arms) await a.configure();
      for (const a of arms) await a.setTorque(true);
    } catch (err) {
      for (const a of arms) await a.close();
      throw err;
    }
    this.arms = arms;
    await this.readAndEmit(true);
  }

  send(action: Float64Array): void {
    if (action.length !== this.pending.length) throw new Error(`action has ${action.length} values, aloha expects ${this.pending.length}`);
    if (this.latched_fault) return this.hold();
    this.pending.set(action);
    this.kick('send');
  }

  hold(): void {
    this.kick('hold');
  }

  /** The same cycle as send()/hold(), awaitable: resolves after the state of this tick was emitted (or not). */
  async cycle(action: Float64Array | null): Promise<void> {
    if (action) this.send(action);
    else this.hold();
    while (this.cycling) await this.cycling;
  }

  /**
   * Read both arms and emit their state without commanding anything, after any cycle still running.
   * A new episode starts from this (a hold would write the pose read before the world was reset).
   */
  async refresh(): Promise<void> {
    while (this.cycling) await this.cycling;
    if (this.arms.length) await this.readAndEmit();
  }

  get tick(): number { return this.tickCount; }

  /** A copy of each arm's bus counters (requests, retries, timeouts, CRC errors, alerts), for reports. */
  busCounters(): Record<string, BusCounters> {
    return Object.fromEntries(this.arms.map((a) => [a.name, { ...a.bus.counters }]));
  }

  async disconnect(): Promise<void> {
    while (this.cycling) await this.cycling;
    // torque stays on: the arms hold their last goal instead of falling
    for (const a of this.arms) await a.close();
    this.arms = [];
    this.states.complete();
    this.faultSubject.complete();
  }

  private kick(kind: 'send' | 'hold'): void {
    if (!this.arms.length) throw new Error('aloha driver: connect() first');
    if (this.cycling) this.late_commands++;
    this.pendingKind = kind;
    if (!this.cycling) this.cycling = this.runCycles().finally(() => { this.cycling = undefined; });
  }

  private async runCycles(): Promise<void> {
    while (this.pendingKind !== 'none') {
      const kind = this.latched_fault ? 'hold' : this.pendingKind;
      this.pendingKind = 'none';
      await Promise.all(this.arms.map(async (arm, a) => {
        try {
          if (kind === 'send') await arm.write(this.pending.subarray(a * (JOINTS + 1), a * (JOINTS + 1) + JOINTS), this.pending[a * (JOINTS + 1) + JOINTS]);
          else await arm.holdMeasured();
        } catch (err) {
          this.report({ kind: 'io', arm: arm.name, message: (err as Error).message });
        }
      }));
      await this.readAndEmit();
    }
  }

  /** `setup`: the first read after connecting, with the bus's set-up timeout (not on the control clock yet). */
  private async readAndEmit(setup = false): Promise<void> {
    const readings = await Promise.all(this.arms.map(async (arm) => {
      try {
        return await arm.read(setup ? arm.bus.setup_timeout_ms : undefined);
      } catch (err) {
        this.report({ kind: 'io', arm: arm.name, message: (err as Error).message });
        return undefined;
      }
    }));
    if (this.arms.some((a) => a.hasAlert) && !this.latched_fault) {
      const alerts = (await Promise.all(this.arms.map((a) => a.hardwareAlerts().catch(() => [])))).flat();
      this.latched_fault = { kind: 'hardware_alert', alerts };
      this.report(this.latched_fault);
    }
    if (readings.some((r) => r === undefined)) return;
    const now = monotonicMs();
    const position = new Float64Array(2 * JOINTS), velocity = new Float64Array(2 * JOINTS), gripper = new Float64Array(2);
    readings.forEach((r, a) => {
      position.set(r!.position_rad, a * JOINTS);
      gripper[a] = r!.gripper;
    });
    const dt_s = (now - this.prevMs) / 1000;
    if (this.prevMs > 0 && dt_s > 0) for (let i = 0; i < position.length; i++) velocity[i] = (position[i] - this.prev[i]) / dt_s;
    this.prev.set(position);
    this.prevMs = now;
    this.states.next({ tick: this.tickCount++, t_mono_ms: now, position_rad: position, velocity_rad_s: velocity, gripper });
  }

  private report(f: AlohaFault): void {
    this.faultSubject.next(f);
  }
}
