// One roslib connection to a rosbridge server that stays up: a refused or silent server at start is a
// typed error (the CLI turns it into exit 2), and a connection lost later is re-opened with exponential
// back-off, because roslib does not reconnect by itself. roslib's Topics re-send their subscribe and
// advertise after a reconnect (reconnect_on_close), so users of this class only watch `events$`.
//
// Caution: roslib queues anything sent while disconnected and flushes it on reconnect. Commands must
// therefore never be published unless `connected` is true, or stale commands would arrive late.

import { type Observable, Subject } from 'rxjs';
import type { Logger } from '../../src/telemetry/log.js';
import { Ros } from './roslib.js';

/** The rosbridge server could not be reached (or answered nothing useful) when we started. */
export class RosConnectionError extends Error {}

export interface RosConnectionOptions {
  url: string;
  /** How long to wait for the WebSocket to open. */
  connect_timeout_ms: number;
  reconnect_initial_ms: number;
  reconnect_max_ms: number;
  log?: Logger;
}

export type RosConnectionEvent =
  | { type: 'connected'; reconnect: boolean }
  | { type: 'disconnected'; reason: string }
  | { type: 'retrying'; attempt: number; delay_ms: number };

export class RosConnection {
  readonly ros: Ros;
  readonly events$: Observable<RosConnectionEvent>;
  disconnects = 0;
  reconnects = 0;
  private readonly events = new Subject<RosConnectionEvent>();
  private up = false;
  private closing = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private delayMs: number;
  private attempt = 0;

  private constructor(
    private readonly opts: RosConnectionOptions,
    ros: Ros,
  ) {
    this.ros = ros;
    this.events$ = this.events.asObservable();
    this.delayMs = opts.reconnect_initial_ms;
    ros.on('connection', () => this.onOpen());
    ros.on('close', (e) => this.onClose(describeEvent(e)));
    // errors are followed by 'close'; the reason is taken from there
    ros.on('error', () => undefined);
  }

  /** Open the connection; throws RosConnectionError naming the URL and the reason when it cannot. */
  static async open(opts: RosConnectionOptions): Promise<RosConnection> {
    const ros = new Ros({});
    const opened = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(`no answer within ${opts.connect_timeout_ms} ms`), opts.connect_timeout_ms);
      const fail = (reason: string) => {
        clearTimeout(timer);
        ros.off('connection', ok);
        reject(new RosConnectionError(`cannot connect to rosbridge at ${opts.url}: ${reason}`));
      };
      let lastError = '';
      const ok = () => {
        clearTimeout(timer);
        resolve();
      };
      ros.once('connection', ok);
      ros.on('error', (e) => {
        lastError = describeEvent(e);
      });
      ros.once('close', (e) => fail(lastError || describeEvent(e) || 'connection closed'));
    });
    try {
      await ros.connect(opts.url);
    } catch (err) {
      throw new RosConnectionError(`cannot connect to rosbridge at ${opts.url}: ${(err as Error).message}`);
    }
    try {
      await opened;
    } catch (err) {
      ros.removeAllListeners();
      ros.close();
      throw err;
    }
    ros.removeAllListeners();
    const conn = new RosConnection(opts, ros);
    conn.up = true;
    return conn;
  }

  get url(): string {
    return this.opts.url;
  }
  /** True while the socket is open: the only time it is safe to publish a command. */
  get connected(): boolean {
    return this.up && this.ros.isConnected;
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.retryTimer);
    if (!this.ros.isConnected) {
      // a retry may be half-way through opening a socket: abort it, or it would connect after we left
      this.ros.close();
      this.events.complete();
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      this.ros.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.ros.close();
    });
    this.events.complete();
  }

  private onOpen(): void {
    if (this.closing) return;
    const reconnect = this.attempt > 0;
    this.up = true;
    this.attempt = 0;
    this.delayMs = this.opts.reconnect_initial_ms;
    if (reconnect) this.reconnects++;
    this.opts.log?.info({ url: this.opts.url, reconnect }, 'rosbridge connected');
    this.events.next({ type: 'connected', reconnect });
  }

  private onClose(reason: string): void {
    if (this.closing) return;
    if (this.up) {
      this.up = false;
      this.disconnects++;
      this.opts.log?.warn({ url: this.opts.url, reason }, 'rosbridge connection lost; reconnecting');
      this.events.next({ type: 'disconnected', reason: reason || 'connection closed' });
    }
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    clearTimeout(this.retryTimer);
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.opts.reconnect_max_ms);
    this.attempt++;
    this.events.next({ type: 'retrying', attempt: this.attempt, delay_ms: delay });
    this.retryTimer = setTimeout(() => {
      if (this.closing) return;
      // a failed attempt ends in another 'close', which schedules the next one
      this.ros.connect(this.opts.url).catch((err: Error) => this.onClose(err.message));
    }, delay);
  }
}

/** A readable reason from a WebSocket error/close event (ws ErrorEvent, CloseEvent, or an Error). */
function describeEvent(e: unknown): string {
  if (typeof e !== 'object' || e === null) return '';
  const o = e as { message?: unknown; error?: { message?: unknown; code?: unknown }; code?: unknown; reason?: unknown };
  if (o.error && typeof o.error.message === 'string') return o.error.message;
  if (typeof o.message === 'string' && o.message) return o.message;
  if (typeof o.reason === 'string' && o.reason) return o.reason;
  if (typeof o.code === 'number') return `closed (code ${o.code})`;
  return '';
}
