// The UR path of the soak: the simulated endpoint in its own process on a fixed port, killed (SIGKILL, as
// a crashed robot PC) and started again where the driver reconnects, or told to stop /joint_states for a
// while (a hung driver on the robot side). Recovery is read on the robot's side: from the kill to the first
// command the new endpoint received. Every command is checked against the profile's limits and max step.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { monotonicMs } from '../src/util/clock.js';
import type { FaultAction } from './soak-faults.js';

const CHILD = fileURLToPath(new URL('./soak-ur-endpoint-child.js', import.meta.url));
const READY_TIMEOUT_MS = 120_000;
const RECOVERY_WAIT_MS = 30_000;

export interface EndpointReport {
  commands: number;
  first_command_t_mono_ms: number | null;
  out_of_limits: number;
  over_step: number;
  max_step_rad: number;
  examples: string[];
}

class Endpoint {
  private waiting: ((r: EndpointReport) => void) | undefined;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ReturnType<typeof spawn>,
    lines: Interface,
  ) {
    lines.on('line', (l) => {
      const m = JSON.parse(l) as { report?: EndpointReport };
      if (m.report) this.waiting?.(m.report);
    });
    this.exited = new Promise((r) => child.once('exit', () => r()));
  }

  static async start(port: number): Promise<Endpoint> {
    const child = spawn(process.execPath, [CHILD, String(port)], { stdio: ['pipe', 'pipe', 'ignore'] });
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error('the UR endpoint did not start')), READY_TIMEOUT_MS);
      lines.once('line', () => {
        clearTimeout(timer);
        ok();
      });
      child.once('exit', (c) => fail(new Error(`the UR endpoint exited (${c}) before it was ready`)));
    });
    return new Endpoint(child, lines);
  }

  report(): Promise<EndpointReport> {
    return new Promise((ok) => {
      this.waiting = ok;
      this.child.stdin!.write('report\n');
    });
  }

  pauseStates(ms: number): void {
    this.child.stdin!.write(`pause_states ${Math.round(ms)}\n`);
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    this.child.kill(signal);
    await this.exited;
  }
}

/** A free TCP port on loopback (closed again: the endpoint binds it). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** The endpoint across its restarts: its URL, the faults to throw at it, and the commands it checked. */
export class UrSoakEndpoint {
  private ep!: Endpoint;
  private readonly past: EndpointReport[] = [];

  private constructor(readonly port: number) {}

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<UrSoakEndpoint> {
    const e = new UrSoakEndpoint(await freePort());
    e.ep = await Endpoint.start(e.port);
    return e;
  }

  faults(): Record<string, FaultAction> {
    return {
      'endpoint-restart': async (rng) => {
        this.past.push(await this.ep.report());
        const killed = monotonicMs();
        await this.ep.kill('SIGKILL');
        await new Promise((r) => setTimeout(r, rng.uniform(1000, 2500)));
        this.ep = await Endpoint.start(this.port);
        const up = monotonicMs();
        const recovery_ms = await this.recovery(killed);
        return {
          kind: 'endpoint-restart',
          length_ms: Math.round(up - killed),
          recovery_ms,
          // the runtime's own part: from the endpoint being back to its first command (reconnect, fresh state)
          resume_after_ready_ms: recovery_ms === null ? null : Math.round(recovery_ms - (up - killed)),
        };
      },
      'stale-joint-states': async (rng) => {
        const ms = rng.uniform(500, 2000);
        this.ep.pauseStates(ms);
        await new Promise((r) => setTimeout(r, ms));
        return { kind: 'stale-joint-states', length_ms: Math.round(ms), recovery_ms: null };
      },
    };
  }

  /** From `since` to the first command the current endpoint received; null if none came in time. */
  private async recovery(since: number): Promise<number | null> {
    const give_up = monotonicMs() + RECOVERY_WAIT_MS;
    while (monotonicMs() < give_up) {
      const r = await this.ep.report();
      if (r.first_command_t_mono_ms !== null) return Math.round(r.first_command_t_mono_ms - since);
      await new Promise((ok) => setTimeout(ok, 100));
    }
    return null;
  }

  /** Every command checked by every incarnation, and the endpoint stopped. */
  async stop(): Promise<EndpointReport> {
    this.past.push(await this.ep.report());
    await this.ep.kill('SIGTERM');
    const sum: EndpointReport = {
      commands: 0,
      first_command_t_mono_ms: null,
      out_of_limits: 0,
      over_step: 0,
      max_step_rad: 0,
      examples: [],
    };
    for (const r of this.past) {
      sum.commands += r.commands;
      sum.out_of_limits += r.out_of_limits;
      sum.over_step += r.over_step;
      sum.max_step_rad = Math.max(sum.max_step_rad, r.max_step_rad);
      sum.examples.push(...r.examples.slice(0, 10 - sum.examples.length));
    }
    return sum;
  }
}
