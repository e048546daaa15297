// The policy contract: an observation taken at control tick k in, a chunk of future actions out,
// stamped with the ticks they are for. Implementations: ONNX models (in a worker thread), scripted
// experts (sim only), and remote policy servers (src/policy/remote/).

export interface CameraImage {
  name: string;
  width: number;
  height: number;
  /** Row-major RGB, 3 bytes per pixel, top row first. */
  rgb: Uint8Array;
  /** Monotonic time the frame was captured (ms, performance.now() time base). */
  t_mono_ms: number;
}

export interface Observation {
  /** Control tick at which the observation was taken. */
  tick: number;
  /** Monotonic time of the joint state (ms). */
  t_mono_ms: number;
  /** Robot state in action layout: per arm its joint positions (rad) then its gripper (0..1). */
  state: Float32Array;
  images: CameraImage[];
  /** Language instruction, for models that take one. */
  instruction?: string;
  /**
   * Simulator-only state (object poses) that a real robot cannot give: only the sim's scripted experts read
   * it; a learned policy sees cameras and joints as it would on a real robot. Absent on a robot.
   */
  privileged?: unknown;
  /**
   * Actions already committed for ticks tick+1 .. tick+count (row-major [count x dim]), for models
   * trained to continue a committed prefix.
   */
  committed?: { actions: Float32Array; count: number };
  /**
   * The first tick the runtime expects to still be able to use from the answer (the observation's tick
   * plus the expected delay, plus one). A policy that can plan ahead (a scripted expert) starts its
   * chunk there; a model with a fixed action offset ignores it and the runtime drops what is stale.
   */
  first_tick_hint?: number;
}

export interface ActionChunk {
  /** Tick of the observation the chunk was computed from. */
  obs_tick: number;
  /** Tick that actions[0] is for (obs_tick + the model's action offset, usually 1). */
  first_tick: number;
  horizon: number;
  dim: number;
  /** Row-major [horizon x dim], in the robot's units and action layout (un-normalised). */
  actions: Float32Array;
  /** Time spent inside the policy: pre-processing, model, post-processing (ms). */
  infer_ms: number;
  /** What the model saw, as features (PolicyDescription.features_dim values), for a residual policy. */
  features?: Float32Array;
}

export interface PolicyDescription {
  name: string;
  kind: 'onnx' | 'expert' | 'remote' | 'diagnostic';
  horizon: number;
  action_dim: number;
  /** actions[0] is for tick obs_tick + action_offset. */
  action_offset: number;
  /** Cameras the policy needs, at the size it wants them (the runtime renders/captures at that size). */
  cameras: { name: string; width: number; height: number }[];
  /** Control rate the policy was trained at, when known. */
  control_hz?: number;
  /** Longest committed prefix the model accepts (0: it takes none). */
  max_committed: number;
  /** Size of the features each chunk carries (a model with a features output), else absent. */
  features_dim?: number;
}

export interface Policy {
  describe(): PolicyDescription;
  infer(obs: Observation): Promise<ActionChunk>;
  /** A new episode starts (for policies with per-episode state, like the scripted experts). */
  reset?(seed: number): void;
  close(): Promise<void>;
  /** What the policy counts about itself (a remote policy: requests, bytes, timeouts, late replies), for telemetry. */
  counters?(): Record<string, unknown>;
}

/** A policy that failed in a way that makes further calls pointless (crashed worker, bad model). */
export class PolicyFailure extends Error {}

/**
 * This call got no chunk, but a later one may (a remote policy server unreachable, restarting, busy, or too slow
 * to answer within its timeout): hold, retry with a fresh observation, give up after the fault timeout.
 */
export class PolicyUnavailable extends Error {
  override name = 'PolicyUnavailable';
}
