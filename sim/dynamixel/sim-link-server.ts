// The emulator's end of the sim link (protocol: sim-link-protocol.ts): a ZeroMQ REP socket on loopback.
import { Reply } from 'zeromq';
import { SimLinkRequestSchema } from '../../protocols/sim-link/protocol.js';

export type SimLinkRequestParsed = ReturnType<typeof SimLinkRequestSchema.parse>;
/** Returns the JSON reply and optional binary frames. */
export type SimLinkHandler = (req: SimLinkRequestParsed) => Promise<{ reply: object; frames?: Uint8Array[] }>;

export class SimLinkServer {
  private readonly sock = new Reply();
  private running = true;
  private loop: Promise<void> | undefined;
  address = '';

  static async bind(handler: SimLinkHandler, port = 0): Promise<SimLinkServer> {
    const s = new SimLinkServer(handler);
    // port 0: ZeroMQ's wildcard port is '*'
    await s.sock.bind(`tcp://127.0.0.1:${port === 0 ? '*' : port}`);
    s.address = s.sock.lastEndpoint ?? '';
    s.loop = s.serve();
    return s;
  }

  private constructor(private readonly handler: SimLinkHandler) {}

  private async serve(): Promise<void> {
    try {
      for await (const [msg] of this.sock) {
        let out: { reply: object; frames?: Uint8Array[] };
        try {
          const parsed = SimLinkRequestSchema.safeParse(JSON.parse(msg.toString('utf8')));
          if (!parsed.success) {
            out = {
              reply: {
                ok: false,
                error:
                  `bad request: ` +
                  `${parsed.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; ')}`,
              },
            };
          } else {
            out = await this.handler(parsed.data);
          }
        } catch (err) {
          out = { reply: { ok: false, error: (err as Error).message } };
        }
        await this.sock.send([JSON.stringify(out.reply), ...(out.frames ?? [])]);
      }
    } catch (err) {
      if (this.running) throw err;
    }
  }

  async close(): Promise<void> {
    this.running = false;
    this.sock.close();
    await this.loop?.catch(() => {});
  }
}
