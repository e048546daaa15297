// The policy's observation of a recorded tick, built by the runtime's own buildObservation (the state in
// the robot's action layout, the committed prefix and first-tick hint from the buffer), so evaluation feeds
// a policy exactly what the robot loop would. Frames go in at their recorded size: the ONNX pre-processing
// (or the remote client) resizes them to the model's input with the manifest's rule, as it does for a
// robot's cameras. (In the embedded sim the loop renders at the model's size instead: record at that size,
// --record-size, for bit-exact images.)
import type { CameraImage, Observation, PolicyDescription } from '../../policy/policy.js';
import type { RobotDescription } from '../../robot/index.js';
import type { ActionBuffer } from '../../runtime/action-buffer.js';
import type { ObservationMessage } from '../../runtime/control/protocol.js';
import { buildObservation } from '../../runtime/episode/observation.js';
import type { LatencyEstimator } from '../../runtime/timing/latency-estimator.js';
import type { EpisodeView } from './episode-view.js';

export interface ObservationSetup {
  robot: RobotDescription;
  policy: PolicyDescription;
  dt_ms: number;
}

/** What the buffer knows when the observation is taken (an empty one for open-loop ticks). */
export interface BufferState {
  buffer: ActionBuffer;
  latency: LatencyEstimator;
  expected_delay_ticks: number;
}

export function recordedObservation(view: EpisodeView, row: number, s: ObservationSetup, b: BufferState): Observation {
  const ep = view.episode;
  const J = ep.meta.joint_names.length;
  const G = ep.meta.gripper_names.length;
  const tick = ep.tick[row];
  const msg: ObservationMessage = {
    type: 'observation',
    tick,
    t_mono_ms: ep.t_mono_ms[row],
    position_rad: ep.position_rad.subarray(row * J, (row + 1) * J),
    gripper: ep.gripper.subarray(row * G, (row + 1) * G),
  };
  const images: CameraImage[] = [];
  for (const c of s.policy.cameras) {
    const f = view.frame(c.name, row);
    // fit.ts refuses recordings without a policy camera; a row before its first frame is never evaluated
    if (!f) throw new Error(`${ep.path}: camera '${c.name}' has no frame at or before tick ${tick}`);
    const frameRow = view.rowOfTick(f.tick);
    const t_mono_ms = frameRow >= 0 ? ep.t_mono_ms[frameRow] : ep.t_mono_ms[row];
    images.push({ name: c.name, width: f.width, height: f.height, rgb: f.rgb, t_mono_ms });
  }
  return buildObservation(msg, { images }, tick, {
    robot: s.robot,
    policy: s.policy,
    buffer: b.buffer,
    latency: b.latency,
    dt_ms: s.dt_ms,
    expected_delay_ticks: b.expected_delay_ticks,
  });
}
