// The Dynamixel bus emulator: both ALOHA follower arms as X-series servos on pseudo-terminals, backed by
// the MuJoCo ALOHA sim, plus the sim link for cameras, episode reset and success; with `leaders`, the two leader
// arms on pseudo-terminals of their own, posed over the sim link (a person's hands: leader-arm.ts).
// Clock: the sim steps at 50 Hz on its own (drift-free) clock, whatever the driver does, like a real rig:
// servos keep moving towards their last goal between writes, and a driver that is late sees it. Stepping
// per received SYNC_WRITE would be deterministic but would hide exactly the timing faults this is for.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALOHA_ARM_SIDES, type AlohaSide } from '../../protocols/aloha/motor-map.js';
import { PacketFramer } from '../../protocols/dynamixel/framer.js';
import { type FaultKnobs, FaultKnobsSchema } from '../../protocols/sim-link/fault-knobs.js';
import { type HandReply, SIM_LINK_PROTOCOL_VERSION } from '../../protocols/sim-link/protocol.js';
import { monotonicMs } from '../../src/util/clock.js';
import { TickTimer } from '../../src/util/fixed-rate.js';
import { SimEnv } from '../sim-env.js';
import type { TaskName } from '../tasks/index.js';
import { EmulatedAlohaRig } from './aloha-rig.js';
import { FrameRenderer } from './frame-renderer.js';
import { EmulatedLeaderArm, type LeaderPose } from './leader-arm.js';
import { createPtyPair, type PtyPair } from './pty-pair.js';
import type { EmulatedServo, ServoSafetyCounters } from './servo.js';
import { type ChainCounters, ServoChain } from './servo-chain.js';
import { type SimLinkRequestParsed, SimLinkServer } from './sim-link-server.js';

export interface EmulatorOptions {
  task?: TaskName;
  seed?: number;
  physics_hz?: number;
  faults?: Partial<FaultKnobs>;
  /** Start the sim link (default true); port 0 picks a free one. */
  sim_link?: boolean;
  sim_link_port?: number;
  /** Directory for the pty symlinks (default: a fresh temporary one, removed at stop). */
  dir?: string;
  /** Also emulate the leader arms (their buses: leader_ports), resting where the followers start. */
  leaders?: boolean;
}

const CONTROL_HZ = 50;
const MAX_CATCH_UP_TICKS = 5;
/** A hand-moved joint is there within this (rad; the gripper: of its 0..1 opening). */
const HAND_REACHED_RAD = 0.02;

export class DynamixelEmulator {
  readonly ports = {} as Record<AlohaSide, string>;
  readonly chains = {} as Record<AlohaSide, ServoChain>;
  /** With `leaders`: the leader arms' ports and arms (undefined without). */
  leader_ports: Record<AlohaSide, string> | undefined;
  readonly leaders = {} as Record<AlohaSide, EmulatedLeaderArm>;
  sim_link: string | undefined;
  faults: FaultKnobs;
  private readonly pairs: PtyPair[] = [];
  private server: SimLinkServer | undefined;
  private frames: FrameRenderer | undefined;
  private readonly clock: TickTimer;
  private ownDir: string | undefined;

  private constructor(
    readonly env: SimEnv,
    readonly rig: EmulatedAlohaRig,
    private readonly opts: EmulatorOptions,
  ) {
    this.faults = FaultKnobsSchema.parse(opts.faults ?? {});
    this.clock = new TickTimer(1000 / CONTROL_HZ, () => this.rig.tick(), MAX_CATCH_UP_TICKS);
  }

  /** Ticks the clock could not run in time (the process stalled). */
  get slipped_ticks(): number {
    return this.clock.slipped_ticks;
  }

  static async start(opts: EmulatorOptions = {}): Promise<DynamixelEmulator> {
    const env = await SimEnv.create({
      robot: 'aloha',
      task: opts.task,
      physics_hz: opts.physics_hz,
      control_hz: CONTROL_HZ,
    });
    const emu = new DynamixelEmulator(env, new EmulatedAlohaRig(env), opts);
    try {
      await emu.open();
    } catch (err) {
      await emu.stop();
      throw err;
    }
    return emu;
  }

  private async open(): Promise<void> {
    this.rig.reset(this.opts.seed ?? 0);
    if (!this.opts.dir) this.ownDir = await mkdtemp(join(tmpdir(), 'vla-dxl-'));
    const dir = this.opts.dir ?? this.ownDir!;
    for (const [i, side] of ALOHA_ARM_SIDES.entries()) {
      this.chains[side] = await this.openBus(dir, side, this.rig.arms[i].servos, 1 + i);
      this.ports[side] = (this.pairs.at(-1) as PtyPair).user_path;
    }
    if (this.opts.leaders) {
      this.leader_ports = {} as Record<AlohaSide, string>;
      for (const [i, side] of ALOHA_ARM_SIDES.entries()) {
        this.leaders[side] = new EmulatedLeaderArm(side, this.rig.armPose(side));
        await this.openBus(dir, `${side}-leader`, this.leaders[side].servos, 3 + i);
        this.leader_ports[side] = (this.pairs.at(-1) as PtyPair).user_path;
      }
    }
    if (this.opts.sim_link !== false) {
      this.server = await SimLinkServer.bind((req) => this.onSimLink(req), this.opts.sim_link_port ?? 0);
      this.sim_link = this.server.address;
    }
    this.clock.start();
  }

  /** One bus: a pseudo-terminal pair (symlinked as `<dir>/<name>`) with a chain of servos behind it. */
  private async openBus(dir: string, name: string, servos: EmulatedServo[], seed: number): Promise<ServoChain> {
    const pair = await createPtyPair(dir, name);
    this.pairs.push(pair);
    const chain = new ServoChain(
      name,
      servos,
      () => this.faults,
      (bytes) => pair.write(bytes),
      seed,
    );
    const framer = new PacketFramer((p) => {
      if (p.instruction !== 0x55) chain.handle(p);
    });
    pair.onData((d) => framer.push(d));
    return chain;
  }

  /** A person holds one leader arm in `pose` (the sim link's 'leader' op). */
  holdLeader(side: string, pose: LeaderPose): void {
    if (!this.leader_ports) throw new Error('this emulator has no leader arms (start it with --leaders)');
    const arm = ALOHA_ARM_SIDES.includes(side as AlohaSide) ? this.leaders[side as AlohaSide] : undefined;
    if (!arm) throw new Error(`no leader arm '${side}' (valid: ${ALOHA_ARM_SIDES.join(', ')})`);
    arm.hold(pose);
  }

  setFaults(f: Partial<FaultKnobs>): FaultKnobs {
    this.faults = FaultKnobsSchema.parse({ ...this.faults, ...f });
    return this.faults;
  }

  /** Raise a hardware error (Hardware_Error_Status bits) on one servo: its torque goes off. */
  alarm(side: string, id: number, bits: number): void {
    const arm = this.rig.arms.find((a) => a.side === side);
    if (!arm) throw new Error(`no arm '${side}' (valid: ${ALOHA_ARM_SIDES.join(', ')})`);
    const servo = arm.servos.find((s) => s.id === id);
    if (!servo) throw new Error(`${side} arm has no servo with ID ${id}`);
    servo.raiseHardwareError(bits);
  }

  /** How the pseudo-terminals were made (node-pty's binding, or socat as the fallback). */
  get pty_via(): string | undefined {
    return this.pairs[0]?.via;
  }

  reset(seed: number): void {
    this.rig.reset(seed);
    this.clock.start();
  }

  /** Per arm: the bus's counters and the servos' safety counters (EEPROM writes, torque switched off, goal jumps). */
  counters(): Record<AlohaSide, ChainCounters & ServoSafetyCounters> {
    const arm = (c: ServoChain) => ({ ...c.counters, ...c.safetyCounters() });
    return { left: arm(this.chains.left), right: arm(this.chains.right) };
  }

  async stop(): Promise<void> {
    this.clock.stop();
    await this.server?.close();
    await this.frames?.stop();
    await Promise.all(this.pairs.map((p) => p.close()));
    if (this.ownDir) await rm(this.ownDir, { recursive: true, force: true });
    this.env.dispose();
  }

  private async onSimLink(req: SimLinkRequestParsed): Promise<{ reply: object; frames?: Uint8Array[] }> {
    switch (req.op) {
      case 'hello':
        return {
          reply: {
            ok: true,
            protocol: SIM_LINK_PROTOCOL_VERSION,
            robot: 'aloha',
            task: this.env.task.name,
            control_hz: CONTROL_HZ,
            cameras: this.env.cameraNames(),
            arms: [...ALOHA_ARM_SIDES],
          },
        };
      case 'reset':
        this.reset(req.seed);
        return { reply: { ok: true, tick: this.env.tick } };
      case 'status':
        return {
          reply: {
            ok: true,
            tick: this.env.tick,
            success: this.env.success,
            done: this.env.done,
            task_state: this.env.taskState(),
            // beyond the protocol's fields (clients ignore them): what the fault matrix checks a stopped
            // driver against, from outside the driver: the arms' poses and the servos' write counters
            arms: Object.fromEntries(ALOHA_ARM_SIDES.map((side) => [side, this.rig.armPose(side)])),
            ...(this.leader_ports
              ? { leaders: Object.fromEntries(ALOHA_ARM_SIDES.map((side) => [side, this.leaders[side].pose()])) }
              : {}),
            counters: this.counters(),
          },
        };
      case 'frame': {
        if (this.faults.cameras_paused) throw new Error(`camera '${req.camera}' delivers nothing (cameras_paused)`);
        if (!this.env.cameraNames().includes(req.camera))
          throw new Error(`no camera '${req.camera}' (valid: ${this.env.cameraNames().join(', ')})`);
        const tick = this.env.tick;
        this.frames ??= new FrameRenderer({
          robot: 'aloha',
          task: this.env.task.name,
          physics_hz: this.env.physics_hz,
          control_hz: CONTROL_HZ,
        });
        const f = await this.frames.render(this.env.snapshot(), req.camera, req.size);
        return { reply: { ok: true, camera: req.camera, width: f.width, height: f.height, tick }, frames: [f.rgb] };
      }
      case 'faults': {
        const { op: _op, ...knobs } = req;
        return { reply: { ok: true, faults: this.setFaults(knobs) } };
      }
      case 'alarm':
        this.alarm(req.arm, req.id, req.bits);
        return { reply: { ok: true } };
      case 'hand':
        return { reply: { ok: true, ...(await this.moveByHand(req)) } };
      case 'leader':
        this.holdLeader(req.arm, { position_rad: req.position_rad, gripper: req.gripper });
        return { reply: { ok: true, tick: this.env.tick } };
    }
  }

  /** An operator moves an arm's limp joints by hand; resolves when they are there (or at the timeout). */
  private async moveByHand(req: Extract<SimLinkRequestParsed, { op: 'hand' }>): Promise<Omit<HandReply, 'ok'>> {
    if (!(ALOHA_ARM_SIDES as readonly string[]).includes(req.arm))
      throw new Error(`no arm '${req.arm}' (valid: ${ALOHA_ARM_SIDES.join(', ')})`);
    const side = req.arm as AlohaSide;
    this.rig.moveByHand(side, req.position_rad, req.gripper);
    const until = monotonicMs() + req.timeout_ms;
    for (;;) {
      const now = this.rig.armPose(side);
      const reached =
        now.position_rad.every((p, j) => Math.abs(p - req.position_rad[j]) <= HAND_REACHED_RAD) &&
        (req.gripper === undefined || Math.abs(now.gripper - req.gripper) <= HAND_REACHED_RAD);
      if (reached || monotonicMs() >= until) return { reached, tick: this.env.tick, ...now };
      await new Promise((r) => setTimeout(r, 1000 / CONTROL_HZ));
    }
  }
}
