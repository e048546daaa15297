// The runtime's end of the sim link (protocol: sim-link-protocol.ts). Calls are serialised: a ZeroMQ REQ
// socket strictly alternates request and reply. A reply that does not come within timeout_ms is an error.
import { Request } from 'zeromq';
import type { FaultKnobs } from './fault-knobs.js';
import type {
  FaultsReply,
  FrameReply,
  HandReply,
  HelloReply,
  ResetReply,
  SimLinkRequest,
  SimLinkStats,
  StatusReply,
} from './protocol.js';

export class SimLinkError extends Error {
  override name = 'SimLinkError';
}

export class SimLinkClient {
  private readonly sock: Request;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly address: string,
    timeout_ms = 5000,
  ) {
    this.sock = new Request({ receiveTimeout: timeout_ms, sendTimeout: timeout_ms, linger: 0 });
    this.sock.connect(address);
  }

  hello(): Promise<HelloReply> {
    return this.json({ op: 'hello' });
  }
  reset(seed: number): Promise<ResetReply> {
    return this.json({ op: 'reset', seed });
  }
  status(): Promise<StatusReply> {
    return this.json({ op: 'status' });
  }
  /** What the server has refused so far. */
  stats(): Promise<SimLinkStats> {
    return this.json({ op: 'stats' });
  }
  setFaults(f: Partial<FaultKnobs>): Promise<FaultsReply> {
    return this.json({ op: 'faults', ...f });
  }
  alarm(arm: string, id: number, bits: number): Promise<{ ok: true }> {
    return this.json({ op: 'alarm', arm, id, bits });
  }
  /** Move an arm's limp joints by hand (emulator); resolves when they are there or at timeout_ms. */
  hand(arm: string, position_rad: readonly number[], gripper?: number, timeout_ms?: number): Promise<HandReply> {
    return this.json({ op: 'hand', arm, position_rad: [...position_rad], gripper, timeout_ms });
  }

  /** Hold a leader arm in a pose (an emulator with leader arms): what a person's hands do. */
  leader(arm: string, position_rad: readonly number[], gripper: number): Promise<{ ok: true; tick: number }> {
    return this.json({ op: 'leader', arm, position_rad: [...position_rad], gripper });
  }

  /** One camera image (RGB, row-major) at the emulator's current tick. */
  async frame(camera: string, size = 224): Promise<FrameReply & { rgb: Uint8Array }> {
    const [head, rgb] = await this.call({ op: 'frame', camera, size });
    const meta = head as FrameReply;
    if (!rgb || rgb.length !== meta.width * meta.height * 3)
      throw new SimLinkError(
        `sim link ${this.address}: frame of ${camera} has ${rgb?.length ?? 0} bytes, expected ` +
          `${meta.width * meta.height * 3}`,
      );
    return { ...meta, rgb: new Uint8Array(rgb.buffer, rgb.byteOffset, rgb.length) };
  }

  close(): void {
    this.sock.close();
  }

  private async json<T>(req: SimLinkRequest): Promise<T> {
    const [head] = await this.call(req);
    return head as T;
  }

  private call(req: SimLinkRequest): Promise<[object, ...Buffer[]]> {
    const run = this.queue.then(async (): Promise<[object, ...Buffer[]]> => {
      try {
        await this.sock.send(JSON.stringify(req));
        const [head, ...rest] = await this.sock.receive();
        const reply = JSON.parse(head.toString('utf8')) as { ok: boolean; error?: string };
        if (!reply.ok) throw new SimLinkError(`sim link ${this.address}: ${req.op}: ${reply.error}`);
        return [reply, ...rest];
      } catch (err) {
        if (err instanceof SimLinkError) throw err;
        throw new SimLinkError(`sim link ${this.address}: ${req.op} failed: ${(err as Error).message}`);
      }
    });
    this.queue = run.catch(() => {});
    return run;
  }
}
