// The sim link: what a real ALOHA rig gets from its cameras and its operator, for a rig that is the
// Dynamixel emulator (serial carries only the motors). ZeroMQ REQ/REP on loopback; the emulator binds
// REP, a client connects REQ. Every request is one frame of UTF-8 JSON; every reply starts with one
// frame of JSON and may carry binary frames after it.
//
//   request                                   reply (JSON frame [+ binary frames])
//   {"op":"hello"}                            {"ok":true,"protocol":1,"robot":"aloha","task":..,"control_hz":50,
//                                              "cameras":["top",...],"arms":["left","right"]}
//   {"op":"reset","seed":N}                   {"ok":true,"tick":0}  new episode: the scene is re-placed from
//                                              the seed, the arms are at home and their goals are home
//   {"op":"status"}                           {"ok":true,"tick":k,"success":b,"done":b,"task_state":{...}}
//                                              task_state is privileged (object poses): scripted experts only;
//                                              also "arms" (each arm's pose) and "counters" (the servos' counters,
//                                              goal_writes among them: what tests watch to see the arms left alone);
//                                              with leader arms, "leaders" (each leader arm's pose)
//   {"op":"frame","camera":"top","size":224}  {"ok":true,"camera":..,"width":w,"height":h,"tick":k}
//                                              + frame 2: RGB bytes (w*h*3, row-major, top row first)
//   {"op":"faults", ...FaultKnobs fields}     {"ok":true,"faults":{...}}  change the fault knobs at run time
//   {"op":"alarm","arm":"left","id":4,"bits":32}
//                                             {"ok":true}  raise a hardware error on one emulated servo; like a real
//                                              one it keeps it (torque off) until rebooted (REBOOT 0x08,
//                                              vla-calibrate --reboot)
//   {"op":"hand","arm":"left","position_rad":[6 joints],"gripper":0..1,"timeout_ms":3000}
//                                             {"ok":true,"reached":b,"tick":k,"position_rad":[..],"gripper":g}
//                                              an operator moves the arm's limp (torque-off) joints there by
//                                              hand; replies once they are within 0.02 rad (or at the timeout)
//   {"op":"leader","arm":"left","position_rad":[6 joints],"gripper":0..1}
//                                             {"ok":true,"tick":k}  (an emulator started with leader arms) a person
//                                              holds that leader arm there; it reads so on its bus until moved again
//   {"op":"stats"}                            {"ok":true,"requests":n,"bad_requests":n,"failed":n}  what the
//                                              server has refused: not one JSON frame of a known op
//                                              (bad_requests) or not doable (failed: an unknown camera, arm...)
//   anything wrong                            {"ok":false,"error":"message"}
//
// The server binds 127.0.0.1 only (the link has no authentication) and takes requests of at most
// SIM_LINK_MAX_REQUEST_BYTES: libzmq drops a connection that sends a larger one.
//
// `tick` is the emulator's control tick (50 Hz, its own clock) since the last reset.
import { z } from 'zod';
import { type FaultKnobs, FaultKnobsSchema } from './fault-knobs.js';

export const SIM_LINK_PROTOCOL_VERSION = 1;
/** Every request is a small JSON object; 64 KiB is far above the largest (a 'hand' with 6 joints). */
export const SIM_LINK_MAX_REQUEST_BYTES = 64 * 1024;

export const SimLinkRequestSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('hello') }),
  z.object({ op: z.literal('reset'), seed: z.number().int().min(0) }),
  z.object({ op: z.literal('status') }),
  z.object({ op: z.literal('frame'), camera: z.string(), size: z.number().int().min(1).max(1024).default(224) }),
  FaultKnobsSchema.partial().extend({ op: z.literal('faults') }),
  z.object({
    op: z.literal('alarm'),
    arm: z.string(),
    id: z.number().int().min(0).max(252),
    bits: z.number().int().min(1).max(255),
  }),
  z.object({
    op: z.literal('hand'),
    arm: z.string(),
    position_rad: z.array(z.number().min(-Math.PI).max(Math.PI)).length(6),
    gripper: z.number().min(0).max(1).optional(),
    timeout_ms: z.number().int().min(0).max(60_000).default(3000),
  }),
  z.object({
    op: z.literal('leader'),
    arm: z.string(),
    position_rad: z.array(z.number().min(-Math.PI).max(Math.PI)).length(6),
    gripper: z.number().min(0).max(1),
  }),
]);

export type SimLinkRequest = z.input<typeof SimLinkRequestSchema> | { op: 'stats' };

export interface SimLinkStats {
  ok: true;
  /** Requests received, refused ones included. */
  requests: number;
  /** Not one JSON frame of a known op with valid fields. */
  bad_requests: number;
  /** Well-formed but not doable (an unknown camera or arm): answered with the reason. */
  failed: number;
}

export interface HelloReply {
  ok: true;
  protocol: number;
  robot: string;
  task: string;
  control_hz: number;
  cameras: string[];
  arms: string[];
}
export interface ResetReply {
  ok: true;
  tick: number;
}
export interface StatusReply {
  ok: true;
  tick: number;
  success: boolean;
  done: boolean;
  task_state: unknown;
  /** Each arm's pose (joints and gripper) as the emulator holds it. */
  arms?: Record<string, unknown>;
  /** Each leader arm's pose (an emulator with leader arms). */
  leaders?: Record<string, { position_rad: number[]; gripper: number }>;
  /** The emulated servos' counters per arm (requests, goal_writes, torque_off_writes, ...). */
  counters?: Record<string, unknown>;
}
export interface FrameReply {
  ok: true;
  camera: string;
  width: number;
  height: number;
  tick: number;
}
export interface HandReply {
  ok: true;
  /** Whether the arm got there (joints held by their servo do not give way). */
  reached: boolean;
  tick: number;
  position_rad: number[];
  gripper: number;
}
export interface FaultsReply {
  ok: true;
  faults: FaultKnobs;
}
