// The emulator's end of the sim link (protocol: protocols/sim-link/protocol.ts): a ZeroMQ REP socket on loopback.
// Whatever a client sends is answered: a request that is too large never arrives (libzmq drops the connection),
// one that is not one JSON frame of a known op gets {"ok":false}, and each is counted ({"op":"stats"}), so a
// confused or hostile client can neither crash the emulator nor make it act on half a request.
import { Reply } from 'zeromq';
import {
  SIM_LINK_MAX_REQUEST_BYTES,
  SimLinkRequestSchema,
  type SimLinkStats,
} from '../../protocols/sim-link/protocol.js';

export type SimLinkRequestParsed = ReturnType<typeof SimLinkRequestSchema.parse>;
/** Returns the JSON reply and optional binary frames. */
export type SimLinkHandler = (req: SimLinkRequestParsed) => Promise<{ reply: object; frames?: Uint8Array[] }>;
type Out = { reply: object; frames?: Uint8Array[] };

export class SimLinkServer {
  private readonly sock = new Reply({ maxMessageSize: SIM_LINK_MAX_REQUEST_BYTES });
  private running = true;
  private loop: Promise<void> | undefined;
  private readonly counts: Omit<SimLinkStats, 'ok'> = { requests: 0, bad_requests: 0, failed: 0 };
  address = '';

  /** Binds 127.0.0.1 only: the link resets episodes and raises alarms, and has no authentication. */
  static async bind(handler: SimLinkHandler, port = 0): Promise<SimLinkServer> {
    const s = new SimLinkServer(handler);
    // port 0: ZeroMQ's wildcard port is '*'
    await s.sock.bind(`tcp://127.0.0.1:${port === 0 ? '*' : port}`);
    s.address = s.sock.lastEndpoint ?? '';
    s.loop = s.serve();
    return s;
  }

  private constructor(private readonly handler: SimLinkHandler) {}

  get stats(): Omit<SimLinkStats, 'ok'> {
    return { ...this.counts };
  }

  private async serve(): Promise<void> {
    try {
      for await (const frames of this.sock) {
        const out = await this.answer(frames);
        await this.sock.send([JSON.stringify(out.reply), ...(out.frames ?? [])]);
      }
    } catch (err) {
      if (this.running) throw err;
    }
  }

  private async answer(frames: Buffer[]): Promise<Out> {
    this.counts.requests++;
    const bad = (error: string): Out => {
      this.counts.bad_requests++;
      return { reply: { ok: false, error: `bad request: ${error}` } };
    };
    if (frames.length !== 1) return bad(`${frames.length} frames, expected one JSON frame`);
    let json: unknown;
    try {
      json = JSON.parse(frames[0].toString('utf8'));
    } catch {
      return bad('not JSON');
    }
    if ((json as { op?: unknown } | null)?.op === 'stats') return { reply: { ok: true, ...this.stats } };
    const parsed = SimLinkRequestSchema.safeParse(json);
    if (!parsed.success)
      return bad(parsed.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; '));
    try {
      return await this.handler(parsed.data);
    } catch (err) {
      // a well-formed request the emulator cannot do (an unknown camera or arm): the caller's mistake, said so
      this.counts.failed++;
      return { reply: { ok: false, error: (err as Error).message } };
    }
  }

  async close(): Promise<void> {
    this.running = false;
    this.sock.close();
    await this.loop?.catch(() => {});
  }
}
