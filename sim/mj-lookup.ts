// Name lookups and typed-array views into one MuJoCo model and data, made once: tasks ask for the same few
// objects after every tick, and every property read of the bindings would make a new view (an allocation
// per call, every tick). Views are made again only if the WASM memory grew (a view of the old buffer is
// detached: length 0).
import { type MjData, type MjModel, type Mujoco, nameToId } from './mujoco.js';

export interface DataViews {
  qpos: Float64Array;
  qvel: Float64Array;
  ctrl: Float64Array;
  ten_length: Float64Array;
  site_xpos: Float64Array;
  mocap_pos: Float64Array;
  sensordata: Float64Array;
}

export class MjLookup {
  private readonly ids = {
    joint: new Map<string, number>(),
    geom: new Map<string, number>(),
    body: new Map<string, number>(),
  };
  private readonly freeJointAdr = new Map<string, number>();
  private readonly mocapIds = new Map<string, number>();
  private dataViews: DataViews | undefined;

  constructor(
    private readonly mj: Mujoco,
    private readonly model: MjModel,
    private readonly data: MjData,
  ) {}

  id(type: 'joint' | 'geom' | 'body', name: string): number {
    const ids = this.ids[type];
    let id = ids.get(name);
    if (id === undefined) {
      id = nameToId(this.mj, this.model, type, name);
      ids.set(name, id);
    }
    return id;
  }

  get views(): DataViews {
    const v = this.dataViews;
    if (v && v.qpos.length > 0) return v;
    const d = this.data;
    this.dataViews = {
      qpos: d.qpos as Float64Array,
      qvel: d.qvel as Float64Array,
      ctrl: d.ctrl as Float64Array,
      ten_length: d.ten_length as Float64Array,
      site_xpos: d.site_xpos as Float64Array,
      mocap_pos: d.mocap_pos as Float64Array,
      sensordata: d.sensordata as Float64Array,
    };
    return this.dataViews;
  }

  /** The qpos address of object `name`'s free joint (`<name>_joint`). */
  freeJointQposAdr(name: string): number {
    let adr = this.freeJointAdr.get(name);
    if (adr === undefined) {
      adr = (this.model.jnt_qposadr as Int32Array)[this.id('joint', `${name}_joint`)];
      this.freeJointAdr.set(name, adr);
    }
    return adr;
  }

  mocapId(name: string): number {
    let id = this.mocapIds.get(name);
    if (id === undefined) {
      id = (this.model.body_mocapid as Int32Array)[this.id('body', name)];
      if (id < 0) throw new Error(`body '${name}' is not a mocap body`);
      this.mocapIds.set(name, id);
    }
    return id;
  }
}
