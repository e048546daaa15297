// The two ALOHA follower arms over serial (Dynamixel) in the control thread. serialport does its I/O on
// the event loop, so the loop yields between ticks: each send()/hold() starts the driver's cycle (one
// SYNC_WRITE and one SYNC_READ per arm), which completes while the loop waits for the next tick.
// The binding's fault, checked once per tick, in order of precedence:
//  - hardware_alert: a servo raised one; the driver has latched into holding and only a person can clear
//    it, so it is reported latched (the run ends at once), naming arm, ID and motor;
//  - io: a read or write failed after the bus's retries (the message names arm and ID); the loop holds,
//    which sends nothing until a read succeeds again, and resumes from that read;
//  - late: a cycle could not finish inside its tick, so its read was abandoned (its replies, if they come,
//    are discarded, never used for a later tick); the loop holds the same way until a complete read,
//    then, if the hold was no longer than stale_state_ms, goes on with its plan (the servos never left
//    the last goal: a missed read is no reason to wait for a new chunk);
//  - stale: no complete read for stale_state_ms (cycles are not finishing in time).
// Health changes are seen at tick granularity, so a failed write that the same cycle's read clears is
// counted but never holds the arm. Set-up failures (calibration file, port, a servo that does not
// answer at connect, an EEPROM change that would need torque off without cfg.allow_torque_off) are
// DriverSetupErrors: nothing was commanded.
import { Subject } from 'rxjs';
import { AlohaSerialDriver } from '../../../drivers/aloha/aloha-serial-driver.js';
import { alohaMotors } from '../../../drivers/aloha/motor-map.js';
import { DynamixelError } from '../../../drivers/dynamixel/errors.js';
import { CalibrationError, loadArmCalibration, type ArmCalibration } from '../../../calibration/motor-calibration.js';
import type { JointState } from '../../../drivers/driver.js';
import { monotonicMs } from '../../util/clock.js';
import type { AlohaDriverConfig } from '../control-protocol.js';
import { DriverSetupError, type BindingContext, type DriverBinding, type DriverHealth } from './driver-binding.js';

type AlohaStatus = { status: 'ok' | 'hardware_alert' | 'io' | 'late' | 'stale'; reason: string; latched?: boolean };

const BUS_COUNTERS = ['retries', 'timeouts', 'crc_errors', 'stale_replies', 'deadline_misses'] as const;

export async function bindAlohaDriver(cfg: AlohaDriverConfig, ctx: BindingContext): Promise<DriverBinding> {
  const calibration = {
    left: await loadCalibration(cfg.calibration_paths.left),
    right: await loadCalibration(cfg.calibration_paths.right),
  };
  const driver = await AlohaSerialDriver.create({
    ports: cfg.ports, calibration, bus: cfg.bus, control_hz: ctx.control_hz, sim: cfg.sim_endpoint, allow_torque_off: cfg.allow_torque_off ?? false,
  });
  try {
    await driver.connect();
  } catch (err) {
    if (err instanceof DynamixelError) throw new DriverSetupError(err.message);
    throw err;
  }

  let latest: JointState | undefined;
  /** The last I/O failure or late tick, until a complete read of both arms. */
  let ioFault: { status: 'io' | 'late'; reason: string } | undefined;
  const counts = { io_faults: 0, hardware_alerts: 0 };
  driver.state$.subscribe((s) => {
    latest = s;
    ioFault = undefined;
  });
  driver.faults$.subscribe((f) => {
    if (f.kind === 'hardware_alert') counts.hardware_alerts += Math.max(1, f.alerts.length);
    else {
      if (f.kind === 'io') counts.io_faults++;
      ioFault = { status: f.kind, reason: f.message.startsWith(f.arm) ? f.message : `${f.arm}: ${f.message}` };
    }
  });

  const current = (): AlohaStatus => {
    const latched = driver.latched_fault;
    if (latched?.kind === 'hardware_alert') {
      return { status: 'hardware_alert', latched: true, reason: latched.alerts.map((a) => a.message).join('; ') || 'hardware alert (status unreadable)' };
    }
    if (ioFault) return ioFault;
    const age_ms = latest ? monotonicMs() - latest.t_mono_ms : Infinity;
    if (age_ms > cfg.stale_state_ms) return { status: 'stale', reason: `no complete read of the arms for ${Number.isFinite(age_ms) ? Math.round(age_ms) : '-'} ms` };
    return { status: 'ok', reason: '' };
  };

  const health = new Subject<DriverHealth>();
  let reported: AlohaStatus['status'] = 'ok';
  /** The hold in progress (or the last one): when it began and whether it was only late ticks so far. */
  let holdStartMs = 0;
  let onlyLate = true;
  let lastHoldTransient = false;
  /** The status now, and a health message when it changed since the last tick. */
  const check = (): AlohaStatus => {
    const s = current();
    if (s.status !== 'ok') {
      if (reported === 'ok') {
        holdStartMs = monotonicMs();
        onlyLate = true;
      }
      if (s.status !== 'late') onlyLate = false;
    } else if (reported !== 'ok') {
      lastHoldTransient = onlyLate && monotonicMs() - holdStartMs <= cfg.stale_state_ms;
    }
    if (s.status !== reported) {
      reported = s.status;
      health.next({ ok: s.status === 'ok', status: s.status, reason: s.reason, t_mono_ms: monotonicMs(), ...(s.latched ? { latched: true } : {}) });
    }
    return s;
  };

  return {
    driver,
    pacing: 'yielding',
    async startEpisode() {
      // read before the first tick: the world may have been reset under the arms since the last read
      const asked = monotonicMs();
      await driver.refresh();
      const s = check();
      if (s.status !== 'ok') return `cannot start the episode: ${s.status}: ${s.reason}`;
      if (!latest || latest.t_mono_ms < asked) return 'cannot start the episode: no fresh read of the arms';
      return { ...latest, tick: 0 };
    },
    // the last command of the episode leaves the wire before the world is reset
    endEpisode: () => driver.refresh(),
    fault() {
      const s = check();
      return s.status === 'ok' ? undefined : `${s.status}: ${s.reason}`;
    },
    measured: () => (current().status === 'ok' ? latest : undefined),
    // only late reads, and not for longer than the stale limit: nothing was written while the loop held,
    // so the servos stayed on the last goal and the plan goes on
    holdWasTransient: () => lastHoldTransient,
    done: false,
    success: () => false,
    observationExtras: () => ({}),
    health$: health.asObservable(),
    stats() {
      const faults: Record<string, number> = { ...counts, late_ticks: driver.late_ticks, late_commands: driver.late_commands };
      for (const [arm, c] of Object.entries(driver.busCounters())) {
        const side = arm.split(' ')[0];
        for (const k of BUS_COUNTERS) faults[`${side}_${k}`] = c[k];
      }
      return { kind: 'aloha', faults };
    },
  };
}

async function loadCalibration(path: string): Promise<ArmCalibration> {
  try {
    return await loadArmCalibration(path, alohaMotors('follower'));
  } catch (err) {
    if (err instanceof CalibrationError) throw new DriverSetupError(err.message);
    throw err;
  }
}
