// The two ALOHA follower arms over serial, behind the Driver contract. Thin: per tick it writes the
// command and reads the state of both arms (in parallel, one bus each); limits, rate and timing live in
// the runtime. Each send()/hold() starts one cycle; a cycle still on the wire when the next command comes
// makes that command wait for the following cycle (latest wins), never a queue.
// Each cycle must finish inside its control tick (cycle_budget_ms from the command): a read still
// waiting at the end of the tick is abandoned (its late replies are discarded by the bus, never used for
// a later tick), the tick counts as late and is reported, so the runtime holds.
// Faults: a hardware alert latches the driver into holding (commands are ignored) and is reported on
// faults$ with the motor named; a failed or late read emits no state and is reported, and the hold that
// follows sends nothing until a read succeeds again (the servos keep their last goal, one rate-limited
// step from the measured pose).
// Connecting never switches torque off on an arm that may be holding itself up: the calibration's EEPROM
// registers are read and only those that differ are written, and a motor with torque on is refused
// (TorqueOffRefused, nothing written) unless allow_torque_off says the arms are resting.
import { Subject, type Observable } from 'rxjs';
import type { Driver, JointState, RobotDescription, CameraInfo } from '../driver.js';
import { AlohaArm, type AlohaArmOptions, type HardwareAlert } from './aloha-arm.js';
import { ALOHA_ARM_SIDES, ALOHA_JOINT_NAMES, type AlohaSide } from './motor-map.js';
import { alohaArms, ALOHA_MAX_VELOCITY_RAD_S } from '../../sim/robots/aloha.js';
import { loadArmCalibration, builtinAlohaCalibrationPath, type ArmCalibration } from '../../calibration/motor-calibration.js';
import { alohaMotors } from './motor-map.js';
import type { BusCounters } from '../dynamixel/bus.js';
import { DynamixelDeadlineError } from '../dynamixel/errors.js';
import { changesNeedingTorqueOff, TorqueOffRefused, type EepromApplied } from './eeprom-plan.js';
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
  /** The user rested the arms: an EEPROM register that must change may switch a motor's torque off. */
  allow_torque_off?: boolean;
  /** How long one read+write cycle may take (ms); default: the control period less CYCLE_MARGIN_MS. */
  cycle_budget_ms?: number;
}

/**
 * Of each control period, the part a cycle may not use, so that it ends before the next tick's command
 * (one period after its own). Small, because the time is worth more to the read: after a 15 ms bus
 * timeout (a lost reply) the rest of the tick still fits one immediate retry, and a reply that was merely
 * late is still taken by it. A cycle ending in the control loop's last-ms spin (pacing.ts) delays the next
 * command by at most that spin (late_commands), never by a tick.
 */
export const CYCLE_MARGIN_MS = 2;

/** The default cycle budget at `control_hz`: the period less the margin, at least half the period. */
export function defaultCycleBudgetMs(control_hz: number): number {
  const period_ms = 1000 / control_hz;
  return Math.max(period_ms / 2, period_ms - CYCLE_MARGIN_MS);
}

export type AlohaFault =
  | { kind: 'hardware_alert'; alerts: HardwareAlert[] }
  | { kind: 'io'; arm: string; message: string }
  /** A read did not finish within its tick and was abandoned (DynamixelDeadlineError). */
  | { kind: 'late'; arm: string; message: string };

const JOINTS = ALOHA_JOINT_NAMES.length;

export class AlohaSerialDriver implements Driver {
  readonly state$: Observable<JointState>;
  readonly faults$: Observable<AlohaFault>;
  /** Set by a hardware alert; the driver only holds from then on. */
  latched_fault: AlohaFault | undefined;
  /** Commands that found the previous cycle still running (they went out with the next cycle). */
  late_commands = 0;
  /** Cycles whose read was abandoned at the end of their tick (no state for that tick). */
  late_ticks = 0;
  /** What connect() wrote into each arm's EEPROM (normally nothing: the registers already match). */
  configuration: EepromApplied[] = [];
  private readonly states = new Subject<JointState>();
  private readonly faultSubject = new Subject<AlohaFault>();
  private arms: AlohaArm[] = [];
  private readonly pending = new Float64Array(2 * (JOINTS + 1));
  private pendingKind: 'none' | 'send' | 'hold' = 'none';
  private cycling: Promise<void> | undefined;
  private tickCount = 0;
  private readonly prev = new Float64Array(2 * JOINTS);
  private prevMs = 0;
  /** When the command the next cycle carries was given (monotonicMs()): its tick starts then. */
  private commandedMs = 0;
  private readonly cycleBudgetMs: number;

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
    this.cycleBudgetMs = opts.cycle_budget_ms ?? defaultCycleBudgetMs(opts.control_hz ?? 50);
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

  /**
   * Open both buses, bring the EEPROM registers in line with the calibration (only those that differ;
   * both arms are checked before either is written), torque on holding the current pose, emit tick 0.
   */
  async connect(): Promise<void> {
    if (this.arms.length) return;
    const arms: AlohaArm[] = [];
    try {
      for (const side of ALOHA_ARM_SIDES) {
        arms.push(await AlohaArm.open({ side, port: this.opts.ports[side], calibration: this.calibration[side], bus: this.opts.bus }));
      }
      const plans = [];
      for (const a of arms) plans.push(await a.planConfiguration());
      const allow_torque_off = this.opts.allow_torque_off ?? false;
      const risky = plans.flatMap((p) => changesNeedingTorqueOff(p).map((change) => ({ arm: p.arm, path: p.path, change })));
      if (risky.length && !allow_torque_off) throw new TorqueOffRefused(risky);
      this.configuration = [];
      for (const [i, a] of arms.entries()) this.configuration.push(await a.applyConfiguration(plans[i], { allow_torque_off }));
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
    for (const a of this.arms) a.forgetCommand();
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
    this.commandedMs = monotonicMs();
    if (!this.cycling) this.cycling = this.runCycles().finally(() => { this.cycling = undefined; });
  }

  private async runCycles(): Promise<void> {
    while (this.pendingKind !== 'none') {
      const kind = this.latched_fault ? 'hold' : this.pendingKind;
      this.pendingKind = 'none';
      const deadline_ms = this.commandedMs + this.cycleBudgetMs;
      await Promise.all(this.arms.map(async (arm, a) => {
        try {
          if (kind === 'send') await arm.write(this.pending.subarray(a * (JOINTS + 1), a * (JOINTS + 1) + JOINTS), this.pending[a * (JOINTS + 1) + JOINTS]);
          else await arm.holdMeasured();
        } catch (err) {
          this.report({ kind: 'io', arm: arm.name, message: (err as Error).message });
        }
      }));
      await this.readAndEmit(false, deadline_ms);
    }
  }

  /**
   * `setup`: the first read after connecting, with the bus's set-up timeout (not on the control clock
   * yet). `deadline_ms`: the end of the cycle's tick; a read still waiting then is abandoned (late tick).
   */
  private async readAndEmit(setup = false, deadline_ms = Infinity): Promise<void> {
    let late = false;
    const readings = await Promise.all(this.arms.map(async (arm) => {
      try {
        return await arm.read(setup ? arm.bus.setup_timeout_ms : undefined, deadline_ms);
      } catch (err) {
        if (err instanceof DynamixelDeadlineError) late = true;
        this.report({ kind: err instanceof DynamixelDeadlineError ? 'late' : 'io', arm: arm.name, message: (err as Error).message });
        return undefined;
      }
    }));
    if (late) this.late_ticks++;
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
