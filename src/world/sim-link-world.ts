// The Dynamixel emulator's world as the runtime's main thread sees it, over the emulator's ZeroMQ sim
// link (what a real rig gets from its cameras and its operator; serial carries only the motors):
//  - episodes: reset(seed) re-places the scene and puts the arms at home; success and the privileged
//    task state (for the scripted expert) are polled once per control tick, because the runtime asks
//    for them synchronously;
//  - cameras: each camera the policy wants is fetched in turn at the policy's size, at most camera_hz
//    rounds a second. A frame is stamped with the time it was asked for: the emulator renders the scene
//    as it is when the request arrives, never earlier, so the runtime's stale-image guard sees an age
//    that is never too young.
// Status and frames use two REQ sockets, so a poll never queues behind a render (tens of ms). Replies
// that were asked for before a reset are dropped: the new episode never sees the old scene.
import { SimLinkClient, SimLinkError } from '../../protocols/sim-link/client.js';
import { type HelloReply, SIM_LINK_PROTOCOL_VERSION, type StatusReply } from '../../protocols/sim-link/protocol.js';
import type { CameraImage } from '../policy/policy.js';
import type { CameraWant, WorldLink } from '../runtime/world-link.js';
import { monotonicMs } from '../util/clock.js';

export interface SimLinkWorldOptions {
  /** Reply timeout of one request (ms). */
  timeout_ms?: number;
  /** Status polls per second (default 50: one per control tick). */
  poll_hz?: number;
  /** Camera rounds per second, at most (default 30, a real camera's rate: slower hands the policy old frames). */
  camera_hz?: number;
}

/** The sim link does not answer, or is not an ALOHA emulator's: bad input, nothing was commanded. */
export class SimLinkUnavailable extends Error {
  override name = 'SimLinkUnavailable';
}

const DEFAULT_TIMEOUT_MS = 2000;
/** How long reset() and startCameras() wait for the first frame of every camera (ms). */
const FIRST_FRAME_TIMEOUT_MS = 10_000;
const RETRY_MS = 100;

export class SimLinkWorld {
  private status: SimLinkClient;
  private frames: SimLinkClient | undefined;
  private latestStatus: StatusReply | undefined;
  private readonly images = new Map<string, CameraImage>();
  private cameras: CameraWant[] = [];
  /** Bumped by every reset: replies to requests sent before it are dropped. */
  private generation = 0;
  private closed = false;
  private readonly loops: Promise<void>[] = [];
  /** The leader pose waiting to be sent, and whether one is on its way (holdLeaders). */
  private leaderPose: readonly number[] | undefined;
  private leaderBusy = false;
  /** The last failure of the sim link, for the log (the serial side faults on its own). */
  lastError: string | undefined;

  private constructor(
    readonly address: string,
    readonly hello: HelloReply,
    client: SimLinkClient,
    private readonly opts: SimLinkWorldOptions,
  ) {
    this.status = client;
    this.loops.push(this.pollStatus());
  }

  /** Say hello and start polling; SimLinkUnavailable if nobody (or not the ALOHA emulator) answers. */
  static async open(address: string, opts: SimLinkWorldOptions = {}): Promise<SimLinkWorld> {
    const client = new SimLinkClient(address, opts.timeout_ms ?? DEFAULT_TIMEOUT_MS);
    let hello: HelloReply;
    try {
      hello = await client.hello();
    } catch (err) {
      client.close();
      if (err instanceof SimLinkError)
        throw new SimLinkUnavailable(
          `no answer from the sim link at ${address} (is \`vla-sim dynamixel --robot aloha\` running?): ${err.message}`,
        );
      throw err;
    }
    if (hello.robot !== 'aloha' || hello.protocol !== SIM_LINK_PROTOCOL_VERSION) {
      client.close();
      throw new SimLinkUnavailable(
        `the sim link at ${address} serves ${hello.robot} with protocol ${hello.protocol}; expected aloha, protocol ` +
          `${SIM_LINK_PROTOCOL_VERSION}`,
      );
    }
    return new SimLinkWorld(address, hello, client, opts);
  }

  get task(): string {
    return this.hello.task;
  }

  /** Fetch these cameras from now on and wait for a first frame of each; SimLinkUnavailable names a missing one. */
  async startCameras(want: CameraWant[]): Promise<void> {
    const missing = want.filter((c) => !this.hello.cameras.includes(c.name)).map((c) => c.name);
    if (missing.length)
      throw new SimLinkUnavailable(
        `the emulator has no camera ${missing.join(', ')} (it has: ${this.hello.cameras.join(', ')})`,
      );
    if (!want.length) return;
    this.cameras = want;
    this.frames = new SimLinkClient(this.address, this.opts.timeout_ms ?? DEFAULT_TIMEOUT_MS);
    this.loops.push(this.pollFrames());
    if (!(await this.framesOfThisEpisode()))
      throw new SimLinkUnavailable(
        `no frame from the sim link's cameras within ${FIRST_FRAME_TIMEOUT_MS / 1000} s: ` +
          `${this.lastError ?? 'too slow'}`,
      );
  }

  /** The emulator's task state as last polled (privileged: scripted experts and operators only). */
  taskState(): unknown {
    return this.latestStatus?.task_state;
  }

  /**
   * A person holds the leader arms in `pose` (both arms, action layout: 6 joints and the gripper each): what the
   * scripted operator does to take the arms over (an emulator started with leader arms). Fire and forget; while one
   * pose is on its way, only the newest waiting one follows it.
   */
  holdLeaders(pose: readonly number[]): void {
    this.leaderPose = pose;
    if (!this.leaderBusy) void this.sendLeaderPoses();
  }

  private async sendLeaderPoses(): Promise<void> {
    this.leaderBusy = true;
    try {
      while (this.leaderPose && !this.closed) {
        const p = this.leaderPose;
        this.leaderPose = undefined;
        for (const [i, arm] of this.hello.arms.entries()) {
          const joints = Array.from(p.slice(i * 7, i * 7 + 6), (x) => Math.min(Math.PI, Math.max(-Math.PI, x)));
          await this.status.leader(arm, joints, Math.min(1, Math.max(0, p[i * 7 + 6])));
        }
      }
    } catch (err) {
      this.lastError = `leader pose: ${(err as Error).message}`;
    } finally {
      this.leaderBusy = false;
    }
  }

  /** The runtime's view of this world. */
  worldLink(): WorldLink {
    return {
      reset: (seed) => this.reset(seed),
      success: () => this.latestStatus?.success ?? false,
      view: (_m, want) => ({
        images: want.flatMap((c) => {
          const img = this.images.get(c.name);
          return img ? [img] : [];
        }),
        privileged: { task: this.latestStatus?.task_state },
      }),
      close: () => this.close(),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.status.close();
    this.frames?.close();
    await Promise.all(this.loops);
  }

  /** A new episode: the emulator re-places the scene; status and frames of the new one before it starts. */
  private async reset(seed: number): Promise<void> {
    this.generation++;
    this.latestStatus = undefined;
    this.images.clear();
    await this.status.reset(seed);
    const gen = this.generation;
    const s = await this.status.status();
    if (gen === this.generation) this.latestStatus = s;
    if (this.cameras.length && !(await this.framesOfThisEpisode())) {
      throw new SimLinkError(
        `no camera frame of the new episode within ${FIRST_FRAME_TIMEOUT_MS / 1000} s: ${this.lastError ?? 'too slow'}`,
      );
    }
  }

  private async pollStatus(): Promise<void> {
    const period_ms = 1000 / (this.opts.poll_hz ?? 50);
    while (!this.closed) {
      const started = performance.now();
      const gen = this.generation;
      try {
        const s = await this.status.status();
        if (gen === this.generation) this.latestStatus = s;
      } catch (err) {
        if (this.closed) return;
        this.lastError = (err as Error).message;
        // a REQ socket whose reply timed out cannot send again: start over with a new one
        this.status.close();
        this.status = new SimLinkClient(this.address, this.opts.timeout_ms ?? DEFAULT_TIMEOUT_MS);
        await sleep(RETRY_MS);
      }
      await sleep(Math.max(0, period_ms - (performance.now() - started)));
    }
  }

  private async pollFrames(): Promise<void> {
    const period_ms = 1000 / (this.opts.camera_hz ?? 30);
    while (!this.closed) {
      const started = performance.now();
      for (const c of this.cameras) {
        const gen = this.generation;
        const asked = monotonicMs();
        try {
          const f = await this.frames!.frame(c.name, c.size);
          if (gen === this.generation)
            this.images.set(c.name, { name: c.name, width: f.width, height: f.height, rgb: f.rgb, t_mono_ms: asked });
        } catch (err) {
          if (this.closed) return;
          this.lastError = (err as Error).message;
          this.frames!.close();
          this.frames = new SimLinkClient(this.address, this.opts.timeout_ms ?? DEFAULT_TIMEOUT_MS);
          await sleep(RETRY_MS);
        }
      }
      await sleep(Math.max(0, period_ms - (performance.now() - started)));
    }
  }

  /** Whether every camera has a frame of the current episode, waiting up to FIRST_FRAME_TIMEOUT_MS. */
  private async framesOfThisEpisode(): Promise<boolean> {
    const end = performance.now() + FIRST_FRAME_TIMEOUT_MS;
    while (!this.cameras.every((c) => this.images.has(c.name))) {
      if (this.closed || performance.now() > end) return false;
      await sleep(10);
    }
    return true;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
