// The setup a learner sends its actors, to and from JSON: the robot description travels whole (its action_source
// as a plain array), so an actor runs exactly the learner's robot, not whatever its own profile files say.
// Typed by shape only: the protocol layer knows nothing of the runtime's types.
import type { WireDescription, WireSetup } from './protocol.js';

/** What ActorSetup (src/rl/rollout-pool.ts) holds, as far as the wire is concerned. */
export interface SetupLike {
  description: { readonly action_source: ArrayLike<number> };
  task: string;
  base_path: string;
  manifest: { base: { sha256: string } };
  latency_model: WireSetup['latency_model'];
  seed: number;
  physics_hz?: number;
  actor_sizes: number[];
  operator?: WireSetup['operator'];
  privileged_head?: boolean;
}

/** An actor setup as the JSON of a setup message (checked with WireSetupSchema before it is sent). */
export function toWireSetup(s: SetupLike): WireSetup {
  const d = s.description;
  return {
    description: JSON.parse(JSON.stringify({ ...d, action_source: Array.from(d.action_source) })),
    task: s.task,
    base: { path: s.base_path, sha256: s.manifest.base.sha256 },
    manifest: JSON.parse(JSON.stringify(s.manifest)),
    latency_model: s.latency_model,
    seed: s.seed,
    ...(s.physics_hz === undefined ? {} : { physics_hz: s.physics_hz }),
    actor_sizes: s.actor_sizes,
    ...(s.operator === undefined ? {} : { operator: s.operator }),
    ...(s.privileged_head ? { privileged_head: true } : {}),
  };
}

/** The description back as the runtime holds it: frozen, action_source an Int32Array, dh present (or undefined). */
export function descriptionFromWire(d: WireDescription): Readonly<Omit<WireDescription, 'action_source' | 'dh'>> & {
  readonly action_source: Int32Array;
  readonly dh: WireDescription['dh'];
} {
  return Object.freeze({ ...d, dh: d.dh, action_source: Int32Array.from(d.action_source) });
}

/** The endpoint as another machine reaches it: a wildcard bind (0.0.0.0, *, [::]) named by this host's name. */
export function reachableAs(endpoint: string, host: string): string {
  return endpoint.replace(/^tcp:\/\/(0\.0\.0\.0|\*|\[::\])(?=:\d+$)/, `tcp://${host}`);
}

/** Loopback or a local socket: nothing outside this machine reaches the endpoint. */
export function isLoopback(endpoint: string): boolean {
  if (endpoint.startsWith('ipc://') || endpoint.startsWith('inproc://')) return true;
  const host = endpoint.replace(/^tcp:\/\//, '').replace(/:\d+$/, '');
  return host === 'localhost' || /^127\./.test(host) || host === '[::1]' || host === '::1';
}
