// The ALOHA path of the soak: `vla-sim dynamixel` in its own process, its fault knobs turned over the sim
// link for a moment and back: a burst of corrupted replies (CRC), dropped replies, one servo that goes
// silent. What the driver made of each is in the run's summary (holds by health, bus counters); the
// servos count the goals they accepted and refused (out of limits), not when: recovery per fault is not
// observable from outside.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SimLinkClient } from '../protocols/sim-link/client.js';
import type { FaultAction } from './soak-faults.js';

const VLA_SIM = fileURLToPath(new URL('../../bin/vla-sim.js', import.meta.url));
const READY_TIMEOUT_MS = 120_000;
/** Servo IDs of an ALOHA follower arm (protocols/aloha/motor-map.ts): the ones a fault may silence. */
const ARM_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9];

export class DxlSoakEmulator {
  private constructor(
    private readonly child: ReturnType<typeof spawn>,
    readonly ports: Record<string, string>,
    readonly sim_link: string,
    private readonly link: SimLinkClient,
  ) {}

  static async start(): Promise<DxlSoakEmulator> {
    const child = spawn(process.execPath, [VLA_SIM, 'dynamixel', '--robot', 'aloha', '--json'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const ready = await new Promise<{ ports: Record<string, string>; sim_link: string }>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error('vla-sim dynamixel did not start')), READY_TIMEOUT_MS);
      createInterface({ input: child.stdout! }).once('line', (l) => {
        clearTimeout(timer);
        ok(JSON.parse(l));
      });
      child.once('exit', (c) => fail(new Error(`vla-sim dynamixel exited (${c}) before it was ready`)));
    });
    return new DxlSoakEmulator(child, ready.ports, ready.sim_link, new SimLinkClient(ready.sim_link));
  }

  get portsArg(): string {
    return Object.entries(this.ports)
      .map(([arm, p]) => `${arm}=${p}`)
      .join(',');
  }

  faults(): Record<string, FaultAction> {
    const forAWhile = async (kind: string, ms: number, on: Parameters<SimLinkClient['setFaults']>[0]) => {
      await this.link.setFaults(on);
      await new Promise((r) => setTimeout(r, ms));
      await this.link.setFaults({ crc_error_rate: 0, drop_rate: 0, silent_ids: {} });
      return { kind, length_ms: Math.round(ms), recovery_ms: null };
    };
    return {
      'crc-burst': (rng) => forAWhile('crc-burst', rng.uniform(1000, 3000), { crc_error_rate: 0.3 }),
      'dropped-replies': (rng) => forAWhile('dropped-replies', rng.uniform(1000, 3000), { drop_rate: 0.2 }),
      'silent-id': (rng) => {
        const arm = rng.next() < 0.5 ? 'left' : 'right';
        const id = ARM_IDS[Math.floor(rng.next() * ARM_IDS.length)];
        return forAWhile(`silent-id ${arm}/${id}`, rng.uniform(200, 800), { silent_ids: { [arm]: [id] } });
      },
    };
  }

  /**
   * The servos' own count of what they were sent, from outside the driver: Goal_Position writes accepted, and
   * those refused for lying outside Min/Max_Position_Limit (a real servo's data limit error).
   */
  async goalCounts(): Promise<{ commands: number; out_of_limits: number }> {
    const s = (await this.link.status()) as unknown as {
      counters: Record<string, { goal_writes: number; goal_limit_errors: number }>;
    };
    const arms = Object.values(s.counters);
    return {
      commands: arms.reduce((n, a) => n + a.goal_writes, 0),
      out_of_limits: arms.reduce((n, a) => n + a.goal_limit_errors, 0),
    };
  }

  async stop(): Promise<void> {
    this.link.close();
    this.child.kill('SIGTERM');
    await new Promise((r) => this.child.once('exit', r));
  }
}
