// The scene the cameras cast their rays into (camera.ts): every geom of the physics model on one body.
import type { MjData, MjModel, Mujoco } from './mujoco.js';

const GEOM_TYPE_NAMES = ['plane', 'hfield', 'sphere', 'capsule', 'ellipsoid', 'cylinder', 'box'];
export const GEOM_PLANE = 0;

/**
 * The scene as the rays see it: every geom of the physics model, in the same order, fixed to the world
 * body of a second model whose geom poses are copied from the physics data before each frame.
 * mj_multiRay tests each ray against every body's bounding sphere before it looks at geoms; with one
 * body instead of one per link that per-ray work shrinks and a 224 x 224 frame costs about a third less.
 * It is also more exact: in the articulated model that per-body test let a few edge pixels of finger
 * pads fall through to the table. test/camera.test.ts checks the image against mj_ray, which tests
 * every geom.
 */
export class RenderScene {
  readonly model: MjModel;
  readonly data: MjData;
  readonly ngeom: number;
  /** Geom colours 0..255, 3 per geom. */
  readonly geomRgb: Float32Array;
  readonly geomType: Int32Array;
  readonly geomSize: Float64Array;
  /** Bounding-sphere radius per geom (m); 0 for planes, which are never culled. */
  readonly geomRbound: Float64Array;
  /** The geoms' own alpha: 0 means invisible to rays, always. */
  readonly baseAlpha: Float32Array;
  /** Visible plane geoms: intersected by the camera itself (see RayCamera.planeHit). */
  readonly planes: number[];

  constructor(mj: Mujoco, physics: MjModel) {
    this.ngeom = physics.ngeom;
    // copies: compiling the render model below may grow the WebAssembly heap and detach views
    const type = Int32Array.from((physics.geom_type as Int32Array).subarray(0, this.ngeom));
    const size = Float64Array.from((physics.geom_size as Float64Array).subarray(0, 3 * this.ngeom));
    const rgba = Float32Array.from((physics.geom_rgba as Float32Array).subarray(0, 4 * this.ngeom));
    this.geomRbound = Float64Array.from((physics.geom_rbound as Float64Array).subarray(0, this.ngeom));
    this.baseAlpha = Float32Array.from({ length: this.ngeom }, (_, g) => rgba[4 * g + 3]);
    this.planes = [...type.keys()].filter((g) => type[g] === GEOM_PLANE && this.baseAlpha[g] > 0);
    const geoms: string[] = [];
    for (let g = 0; g < this.ngeom; g++) {
      const t = GEOM_TYPE_NAMES[type[g]];
      if (t === undefined || t === 'hfield')
        throw new Error(`ray-cast camera: geom ${g} has unsupported type ${type[g]}`);
      // sizes must be positive to compile; unused entries do not affect the ray tests of that type
      const sz = [0, 1, 2].map((k) => (size[3 * g + k] > 0 ? size[3 * g + k] : 0.001)).join(' ');
      geoms.push(`<geom type="${t}" size="${sz}" rgba="${Array.from(rgba.subarray(4 * g, 4 * g + 4)).join(' ')}"/>`);
    }
    // invisible (alpha 0, so never hit) but it makes the world body's bounding volume cover the cell
    geoms.push('<geom type="box" size="4 4 4" rgba="0 0 0 0"/>');
    this.model = mj.MjModel.from_xml_string(`<mujoco><worldbody>${geoms.join('')}</worldbody></mujoco>`);
    this.data = new mj.MjData(this.model);
    mj.mj_forward(this.model, this.data);
    this.geomType = type;
    this.geomSize = size;
    this.geomRgb = new Float32Array(3 * this.ngeom);
    for (let g = 0; g < this.ngeom; g++) {
      for (let k = 0; k < 3; k++) this.geomRgb[3 * g + k] = rgba[4 * g + k] * 255;
    }
  }

  /**
   * Make only the listed geoms visible to the next mj_multiRay (alpha 0 removes a geom from every
   * ray's tests at once); `null` restores every geom's own alpha.
   */
  showOnly(visible: Uint8Array | null): void {
    const rgba = this.model.geom_rgba as Float32Array;
    for (let g = 0; g < this.ngeom; g++) rgba[4 * g + 3] = visible === null || visible[g] ? this.baseAlpha[g] : 0;
  }

  /** Copy the geom poses of the physics data (its kinematics must be current). */
  sync(physics: MjData): void {
    (this.data.geom_xpos as Float64Array).set((physics.geom_xpos as Float64Array).subarray(0, 3 * this.ngeom));
    (this.data.geom_xmat as Float64Array).set((physics.geom_xmat as Float64Array).subarray(0, 9 * this.ngeom));
  }

  dispose(): void {
    this.data.delete();
    this.model.delete();
  }
}

/** Image tiles cast one mj_multiRay call each, with the geoms no ray of the tile can reach hidden. */
