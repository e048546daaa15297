// One place that loads the MuJoCo WebAssembly module. Loading takes ~0.2 s and the module is
// stateless apart from the models and data created from it, so every SimEnv in a process shares it.

import type { MainModule, MjData, MjModel } from '@mujoco/mujoco';
import loadMujocoModule from '@mujoco/mujoco';

export type Mujoco = MainModule;
export type { MjData, MjModel };

let loading: Promise<Mujoco> | undefined;

export function loadMujoco(): Promise<Mujoco> {
  loading ??= loadMujocoModule();
  return loading;
}

/** mjtObj values used by mj_name2id (stable across MuJoCo 3.x). */
export const MjObj = { body: 1, joint: 3, geom: 5, site: 6, camera: 7, tendon: 18, actuator: 19, sensor: 20 } as const;

export function nameToId(mj: Mujoco, model: MjModel, type: keyof typeof MjObj, name: string): number {
  const id = mj.mj_name2id(model, MjObj[type], name);
  if (id < 0) throw new Error(`MuJoCo model has no ${type} named '${name}'`);
  return id;
}
