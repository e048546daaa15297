// The two ALOHA follower arms over serial (Dynamixel), behind the Driver contract. Per tick, write() starts
// one cycle: a SYNC_WRITE of the goals (none when the command is null) and a SYNC_READ of both arms, in
// parallel, one bus each; read() hands out what the last complete cycle read. The cycle runs on callbacks
// over requests prepared once, so a tick allocates nothing (bench/alloc-serial-worker.ts). A cycle still
// on the wire when the next command comes makes that command wait for the following cycle (latest wins),
// never a queue. A cycle must finish inside its control tick (cycle_budget_ms from the command): a read
// still waiting at the end of the tick is abandoned (its late replies are discarded by the bus, never used
// for a later tick) and the health is 'late'. A read or write that fails after the bus's retries is 'io_error'
// (naming arm and ID); a servo's hardware alert latches 'hardware_alert' (naming arm, ID and motor), and
// from then on no goal is written.
// Connecting never switches torque off on an arm that may be holding itself up: the calibration's EEPROM
// registers are read and only those that differ are written, and a motor with torque on is refused
// (nothing written) unless allow_torque_off says the arms are resting.
// With leader arms (a takeover device for fine-tuning sessions: leader-arms.ts), a cycle also sends a read of them on
// their own buses, never waited for and never written. A failed leader read only leaves the leader pose older
// (JointState.teleop): the followers' cycle and health do not depend on it.

import type { ArmCalibration } from '../../calibration/motor-calibration.js';
import { ALOHA_ARM_SIDES, ALOHA_JOINT_NAMES, ALOHA_READ_IDS, type AlohaSide } from '../../protocols/aloha/motor-map.js';
import type { RobotDescription } from '../../src/robot/index.js';
import { monotonicMs } from '../../src/util/clock.js';
import type { Driver, Health, JointState } from '../driver.js';
import { DriverSetupError } from '../driver.js';
import type { BusCounters } from '../dynamixel/bus-options.js';
import { DynamixelDeadlineError, DynamixelError, DynamixelTimeoutError } from '../dynamixel/errors.js';
import { AlohaArm, type AlohaArmOptions, type HardwareAlert } from './aloha-arm.js';
import { narrowToCalibration } from './calibrated-limits.js';
import { changesNeedingTorqueOff, type EepromApplied, TorqueOffRefused } from './eeprom-plan.js';
import { LeaderArms, type LeaderArmsOptions } from './leader-arms.js';
import { SilentServos } from './silent-servos.js';

export interface AlohaSerialDriverOptions {
  description: RobotDescription;
  ports: Record<AlohaSide, string>;
  calibration: Record<AlohaSide, ArmCalibration>;
  bus?: AlohaArmOptions['bus'];
  /** The user rested the arms: an EEPROM register that must change may switch a motor's torque off. */
  allow_torque_off?: boolean;
  /** How long one read+write cycle may take (ms); default: the control period less CYCLE_MARGIN_MS. */
  cycle_budget_ms?: number;
  /** The leader arms, read each cycle (their ports and calibrations). */
  leaders?: LeaderArmsOptions;
}

/**
 * Of each control period, the part a cycle may not use, so that it ends before the next tick's command.
 * Small, because the time is worth more to the read: after a 15 ms bus timeout (a lost reply) the rest of
 * the tick still fits one immediate retry, and a reply that was merely late is still taken by it.
 */
export const CYCLE_MARGIN_MS = 2;

/** The default cycle budget at `control_hz`: the period less the margin, at least half the period. */
export function defaultCycleBudgetMs(control_hz: number): number {
  const period_ms = 1000 / control_hz;
  return Math.max(period_ms / 2, period_ms - CYCLE_MARGIN_MS);
}

const JOINTS = ALOHA_JOINT_NAMES.length;
const ACTION_PER_ARM = JOINTS + 1;

export class AlohaSerialDriver implements Driver {
  readonly description: RobotDescription;
  /** Commands that found the previous cycle still running (they went out with the next cycle). */
  late_commands = 0;
  /** Cycles whose read was abandoned at the end of their tick. */
  late_ticks = 0;
  io_faults = 0;
  /** Set by a hardware alert: no goal is written from then on. */
  hardware_alerts: HardwareAlert[] | undefined;
  /** What configure() wrote into each arm's EEPROM (normally nothing: the registers already match). */
  configuration: EepromApplied[] = [];
  private arms: AlohaArm[] = [];
  private leaders: LeaderArms | undefined;
  private readonly goal = new Float64Array(2 * ACTION_PER_ARM);
  private pendingKind: 'none' | 'write' | 'read' = 'none';
  private cycling = false;
  /** Reads of the running cycle still out, and which arms were read (1) in it. */
  private readsOut = 0;
  private readonly armRead = new Uint8Array(2);
  /** Per arm: which servos have not answered, read after read (a fault names the one silent longest). */
  private readonly silent = ALOHA_ARM_SIDES.map(() => new SilentServos(Math.max(...ALOHA_READ_IDS)));
  private readonly onRead = [(err?: Error) => this.armReadDone(0, err), (err?: Error) => this.armReadDone(1, err)];
  private readonly onWrite = [(err?: Error) => this.armWriteDone(0, err), (err?: Error) => this.armWriteDone(1, err)];
  /** Who waits for the cycles to stop (activate, deactivate); none on the control tick. */
  private idleWaiters: (() => void)[] = [];
  private readonly position = new Float64Array(2 * JOINTS);
  private readonly velocity = new Float64Array(2 * JOINTS);
  private readonly gripper = new Float64Array(2);
  private readonly prev = new Float64Array(2 * JOINTS);
  private measured_ms = -Infinity;
  private health: Health = 'connecting';
  private why = 'not configured yet';
  /** What the latched hardware alerts are and how to clear them; set once, with `hardware_alerts`. */
  private alertWhy: string | undefined;
  /** When the command the next cycle carries was given: its tick starts then. */
  private commandedMs = 0;
  private readonly cycleBudgetMs: number;
  private cycleLate = false;
  /** This cycle's goal for an arm was refused (outside its calibrated travel): nothing was sent to it. */
  private goalRefused = false;

  constructor(private readonly opts: AlohaSerialDriverOptions) {
    // the calibrated travel of each motor is part of what this rig can do: safety takes the narrower limit
    this.description = narrowToCalibration(opts.description, opts.calibration);
    this.cycleBudgetMs = opts.cycle_budget_ms ?? defaultCycleBudgetMs(opts.description.control_hz);
  }

  /**
   * Open both buses, bring the EEPROM registers in line with the calibration (only those that differ;
   * both arms are checked before either is written), torque on holding the current pose, first read.
   */
  async configure(): Promise<void> {
    if (this.arms.length) return;
    // the leaders first: only read, so a wrong leader port is refused before anything is written to a follower
    const leaders = await this.openLeaders();
    const arms: AlohaArm[] = [];
    try {
      for (const side of ALOHA_ARM_SIDES) {
        arms.push(
          await AlohaArm.open({
            side,
            port: this.opts.ports[side],
            calibration: this.opts.calibration[side],
            bus: this.opts.bus,
          }),
        );
      }
      await this.applyCalibration(arms);
      for (const a of arms) await a.setTorque(true);
    } catch (err) {
      for (const a of arms) await a.close();
      await leaders?.close();
      if (err instanceof DynamixelError) throw new DriverSetupError(err.message);
      throw err;
    }
    this.arms = arms;
    this.leaders = leaders;
    this.startCycle('read', Infinity, arms[0].bus.setup_timeout_ms);
    await this.idle();
  }

  /** A fresh read of both arms, after whatever is still on the wire: the world may have been reset under them. */
  async activate(): Promise<string | undefined> {
    await this.idle();
    this.startCycle('read', Infinity);
    await this.idle();
    return this.health === 'ok' ? undefined : `${this.health}: ${this.problem()}`;
  }

  read(into: JointState): Health {
    into.position_rad.set(this.position);
    into.velocity_rad_s.set(this.velocity);
    into.gripper.set(this.gripper);
    into.t_mono_ms = this.measured_ms;
    if (into.teleop && this.leaders) {
      into.teleop.action.set(this.leaders.pose);
      into.teleop.t_mono_ms = this.leaders.t_mono_ms;
    }
    return this.health;
  }

  problem(): string {
    // a latched alert is the cause: a read that times out afterwards (a rebooting servo, a slow bus) keeps it
    return this.alertWhy ?? this.why;
  }

  write(command: Float64Array | null): void {
    if (!this.arms.length) throw new Error('aloha driver: configure() first');
    if (command && command.length !== this.goal.length)
      throw new Error(`action has ${command.length} values, aloha expects ${this.goal.length}`);
    if (command && !this.hardware_alerts) {
      this.goal.set(command);
      this.pendingKind = 'write';
    } else if (this.pendingKind === 'none') {
      this.pendingKind = 'read';
    }
    this.commandedMs = monotonicMs();
    if (this.cycling) this.late_commands++;
    else this.startPending();
  }

  async deactivate(): Promise<void> {
    await this.idle();
    await this.leaders?.idle();
  }

  async close(): Promise<void> {
    await this.deactivate();
    // torque stays on: the arms hold their last goal instead of falling
    const leaders = this.leaders;
    this.leaders = undefined;
    try {
      for (const a of this.arms) await a.close();
    } finally {
      this.arms = [];
      await leaders?.close();
    }
  }

  counters(): Record<string, number> {
    const out: Record<string, number> = {
      io_faults: this.io_faults,
      hardware_alerts: this.hardware_alerts?.length ?? 0,
      late_ticks: this.late_ticks,
      late_commands: this.late_commands,
      ...(this.leaders ? { leader_misses: this.leaders.misses } : {}),
    };
    for (const [arm, c] of Object.entries(this.busCounters())) {
      const side = arm.split(' ')[0];
      for (const k of ['retries', 'timeouts', 'crc_errors', 'stale_replies', 'deadline_misses'] as const)
        out[`${side}_${k}`] = c[k];
    }
    return out;
  }

  /** A copy of each arm's bus counters (requests, retries, timeouts, CRC errors, alerts), for reports. */
  busCounters(): Record<string, BusCounters> {
    return Object.fromEntries(this.arms.map((a) => [a.name, { ...a.bus.counters }]));
  }

  private async applyCalibration(arms: AlohaArm[]): Promise<void> {
    const plans = [];
    for (const a of arms) plans.push(await a.planConfiguration());
    const allow_torque_off = this.opts.allow_torque_off ?? false;
    const risky = plans.flatMap((p) =>
      changesNeedingTorqueOff(p).map((change) => ({ arm: p.arm, path: p.path, change })),
    );
    if (risky.length && !allow_torque_off) throw new TorqueOffRefused(risky);
    this.configuration = [];
    for (const [i, a] of arms.entries())
      this.configuration.push(await a.applyConfiguration(plans[i], { allow_torque_off }));
  }

  /** Resolves once no cycle runs (and none is pending). */
  private idle(): Promise<void> {
    if (!this.cycling) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Start the cycle a command asked for: the goals (if any) and a read, inside the command's tick. */
  private startPending(): void {
    // a command given while an alert was being latched carries no goal: none is written after an alert
    const kind = this.hardware_alerts ? 'read' : this.pendingKind;
    this.pendingKind = 'none';
    this.startCycle(kind === 'write' ? 'write' : 'read', this.commandedMs + this.cycleBudgetMs);
  }

  /** One cycle: the goals (kind 'write'), then a read of both arms; cycleEnded() sets the health. */
  private startCycle(kind: 'write' | 'read', deadline_ms: number, timeout_ms?: number): void {
    this.cycling = true;
    this.cycleLate = false;
    this.goalRefused = false;
    this.readsOut = 2;
    if (kind === 'write') {
      for (let a = 0; a < 2; a++) this.writeArm(a);
    }
    for (let a = 0; a < 2; a++) this.arms[a].sendRead(deadline_ms, this.onRead[a], timeout_ms);
    this.leaders?.send(deadline_ms, timeout_ms);
  }

  /** The leader arms, when the rig has them (read only). */
  private async openLeaders(): Promise<LeaderArms | undefined> {
    if (!this.opts.leaders) return undefined;
    try {
      return await LeaderArms.open(this.opts.leaders, this.opts.bus);
    } catch (err) {
      if (err instanceof DynamixelError) throw new DriverSetupError(err.message);
      throw err;
    }
  }

  private writeArm(a: number): void {
    const at = a * ACTION_PER_ARM;
    try {
      this.arms[a].sendWrite(this.goal, this.goal[at + JOINTS], this.onWrite[a], at);
    } catch (err) {
      // a goal outside the calibrated travel: nothing was sent to this arm, which keeps its last goal
      this.goalRefused = true;
      this.ioFault(this.arms[a], err as Error);
    }
  }

  private armWriteDone(a: number, err: Error | undefined): void {
    if (err) this.ioFault(this.arms[a], err);
  }

  private armReadDone(a: number, err: Error | undefined): void {
    const arm = this.arms[a];
    this.armRead[a] = err === undefined ? 1 : 0;
    if (err === undefined) {
      this.silent[a].answered();
      const r = arm.reading();
      this.position.set(r.position_rad, a * JOINTS);
      this.gripper[a] = r.gripper;
    } else if (err instanceof DynamixelDeadlineError) {
      this.cycleLate = true;
      this.missedBy(a, err.ids, err.message);
    } else if (err instanceof DynamixelTimeoutError) {
      this.io_faults++;
      this.missedBy(a, err.ids, err.message);
    } else {
      this.ioFault(arm, err);
    }
    if (--this.readsOut === 0) this.cycleEnded();
  }

  private cycleEnded(): void {
    if (this.cycleLate) this.late_ticks++;
    if ((this.arms[0].hasAlert || this.arms[1].hasAlert) && !this.hardware_alerts) {
      void this.latchAlerts().then(() => this.cycleSettled());
      return;
    }
    this.cycleSettled();
  }

  /** Health from how the cycle went; then the command that came meanwhile, or idle. */
  private cycleSettled(): void {
    const both = this.armRead[0] === 1 && this.armRead[1] === 1;
    if (both) this.measure();
    // a failed write that the same cycle's read clears is counted, but the arm was read: it is fine
    // (a refused goal is not: the arm did not take this tick's command)
    const fine = both && !this.goalRefused;
    this.health = this.hardware_alerts ? 'hardware_alert' : this.cycleLate ? 'late' : fine ? 'ok' : 'io_error';
    this.cycling = false;
    if (this.pendingKind !== 'none') {
      this.startPending();
      return;
    }
    const waiters = this.idleWaiters;
    if (waiters.length === 0) return;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * Arm `a`'s read missed `ids`. The cause names the servos silent longest, and the arm with the longer silence
   * (both arms late on one stalled tick must not hide the servo that stopped answering on one of them).
   */
  private missedBy(a: number, ids: readonly number[], message: string): void {
    const arm = this.arms[a];
    this.silent[a].missed(ids);
    if (this.silent[a].longest() < this.silent[1 - a].longest()) return;
    this.why = this.silent[a].describe(arm.name, ids, prefixed(arm.name, message));
  }

  private ioFault(arm: AlohaArm, err: Error): void {
    this.io_faults++;
    this.why = prefixed(arm.name, err.message);
  }

  private async latchAlerts(): Promise<void> {
    const alerts = (await Promise.all(this.arms.map((a) => a.hardwareAlerts().catch(() => [])))).flat();
    this.hardware_alerts = alerts;
    const what = alerts.map((a) => a.message).join('; ') || 'hardware alert (status unreadable)';
    this.alertWhy = `${what}; ${this.rebootHint()}`;
  }

  /** A real servo keeps its alarm (and its torque off) until it is rebooted: the command that does it. */
  private rebootHint(): string {
    const alarmed = this.arms.filter((a) => a.hasAlert);
    const ports = alarmed.map((a) => `${a.name.split(' ')[0]}=${a.bus.path}`).join(',');
    return (
      `run \`vla-calibrate --robot aloha --ports ${ports} --reboot --calibration DIR\` to clear it ` +
      '(DIR: the calibration this run uses; the servo stays limp until the next run starts)'
    );
  }

  /** Both arms read in this cycle: the state, velocities by difference. */
  private measure(): void {
    const now = monotonicMs();
    const dt_s = (now - this.measured_ms) / 1000;
    const known = Number.isFinite(this.measured_ms) && dt_s > 0;
    for (let i = 0; i < this.position.length; i++)
      this.velocity[i] = known ? (this.position[i] - this.prev[i]) / dt_s : 0;
    this.prev.set(this.position);
    this.measured_ms = now;
  }
}

/** An error message that names its arm first (the bus's own messages already do). */
function prefixed(arm: string, message: string): string {
  return message.startsWith(arm) ? message : `${arm}: ${message}`;
}
