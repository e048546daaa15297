// The ALOHA column's rig: `vla-sim dynamixel` in its own process, as a user runs it, and what the column reads
// from outside the driver: the servos' write counters and the arms' poses (the emulator's sim-link status).
import { type ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { SimLinkClient } from '../../../protocols/sim-link/client.js';

const BIN = resolve(import.meta.dirname, '../../../../bin');

/** What the emulator's status adds beyond the protocol: per arm, its pose and its servos' counters. */
export interface RigStatus {
  arms: Record<'left' | 'right', { position_rad: number[]; gripper: number }>;
  counters: Record<'left' | 'right', { goal_writes: number; torque_off_writes: number }>;
}

export class EmulatedRig {
  readonly link: SimLinkClient;
  private readonly exited: Promise<number | null>;

  private constructor(
    readonly proc: ChildProcess,
    readonly ports: { left: string; right: string },
    readonly sim_link: string,
  ) {
    this.exited = new Promise((r) => proc.once('exit', (code) => r(code)));
    this.link = new SimLinkClient(sim_link);
  }

  static async start(): Promise<EmulatedRig> {
    const proc = spawn(process.execPath, [join(BIN, 'vla-sim.js'), 'dynamixel', '--robot', 'aloha', '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const first = await new Promise<string>((res, rej) => {
      createInterface({ input: proc.stdout! }).once('line', res);
      proc.once('exit', (code) => rej(new Error(`emulator exited with ${code}`)));
    });
    const ready = JSON.parse(first) as { ports: { left: string; right: string }; sim_link: string };
    return new EmulatedRig(proc, ready.ports, ready.sim_link);
  }

  /** vla-run's flags for this rig: both arms on their ports, the sim link, the scripted expert. */
  args(...extra: string[]): string[] {
    return [
      ...['--robot', 'aloha', '--ports', `left=${this.ports.left},right=${this.ports.right}`],
      ...['--sim-link', this.sim_link, '--policy', 'expert', '--margin', '10', '--json'],
      ...extra,
    ];
  }

  async status(): Promise<RigStatus> {
    return (await this.link.status()) as unknown as RigStatus;
  }

  /** Goal_Position writes the servos of both arms accepted so far. */
  static goalWrites(s: RigStatus): number {
    return s.counters.left.goal_writes + s.counters.right.goal_writes;
  }

  /** Writes that switched a servo's torque off (an arm let go) so far. */
  static torqueOffs(s: RigStatus): number {
    return s.counters.left.torque_off_writes + s.counters.right.torque_off_writes;
  }

  /** The largest joint or gripper movement between two statuses (rad, or opening for grippers). */
  static moved(a: RigStatus, b: RigStatus): number {
    let most = 0;
    for (const side of ['left', 'right'] as const) {
      a.arms[side].position_rad.forEach((q, j) => {
        most = Math.max(most, Math.abs(q - b.arms[side].position_rad[j]));
      });
      most = Math.max(most, Math.abs(a.arms[side].gripper - b.arms[side].gripper));
    }
    return most;
  }

  /** SIGKILL: both pseudo-terminals vanish with the process that holds their masters (a pulled USB hub). */
  unplug(): void {
    this.proc.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    this.link.close();
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    await this.exited;
  }
}
