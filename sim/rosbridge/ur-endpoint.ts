// The simulated UR endpoint as one thing to start and stop: a rosbridge server with the UR cell behind it.
import { RosbridgeServer } from './rosbridge-server.js';
import { UrCell, type UrCellOptions } from './ur-cell.js';

export interface UrEndpointOptions extends UrCellOptions {
  /** WebSocket port; 0 picks a free one (see .port). */
  port: number;
  /** Interface to listen on (default 127.0.0.1; 0.0.0.0 to reach it from another host). */
  host?: string;
  /**
   * How long a client's new publisher waits for its ROS subscribers (the controllers) to connect; what
   * it publishes before is lost. Default 60 ms: a real ROS graph takes 40-140 ms.
   */
  publisher_connect_ms?: number;
}

export const DEFAULT_PUBLISHER_CONNECT_MS = 60;

export class UrEndpoint {
  private constructor(
    readonly server: RosbridgeServer,
    readonly cell: UrCell,
  ) {}

  static async start(opts: UrEndpointOptions): Promise<UrEndpoint> {
    const server = await RosbridgeServer.listen({
      port: opts.port,
      host: opts.host,
      log: opts.log,
      publisher_connect_ms: opts.publisher_connect_ms ?? DEFAULT_PUBLISHER_CONNECT_MS,
    });
    try {
      return new UrEndpoint(server, await UrCell.start(server, opts));
    } catch (err) {
      await server.close();
      throw err;
    }
  }

  get port(): number {
    return this.server.port;
  }
  get url(): string {
    return this.server.url;
  }

  /** Clients see their connections drop, as when a real rosbridge goes away. */
  async stop(): Promise<void> {
    await this.cell.stop();
    await this.server.close();
  }
}
