// A camera image made by ray casting: one ray per pixel through mj_multiRay, which returns the geom hit,
// and the distance. Colour is the geom's rgba times a Lambert term from one fixed
// light; depth is the distance along the optical axis. There is no OpenGL in the WebAssembly build,
// and for policies that see 64-224 px images this is fast enough and fully deterministic.
import type { Mujoco, MjModel, MjData } from './mujoco.js';
import { nameToId } from './mujoco.js';

export interface CameraFrame {
  camera: string;
  width: number;
  height: number;
  /** Row-major RGB, 3 bytes per pixel, top row first. */
  rgb: Uint8Array;
  /** Metres along the optical axis; +Infinity where the ray hit nothing. */
  depth_m: Float32Array;
}

const AMBIENT = 0.38;
const DIFFUSE = 0.62;
/** Light direction (towards the light), from above and slightly in front of the scene. */
const LIGHT = normalize([0.35, 0.25, 1.0]);
const BACKGROUND = [46, 52, 64] as const;
/** Rays longer than this (m) count as misses. */
const CUTOFF_M = 6;
const GEOM_TYPE_NAMES = ['plane', 'hfield', 'sphere', 'capsule', 'ellipsoid', 'cylinder', 'box'];
const GEOM_PLANE = 0, GEOM_CAPSULE = 3, GEOM_ELLIPSOID = 4, GEOM_CYLINDER = 5, GEOM_BOX = 6;

/**
 * The scene as the rays see it: every geom of the physics model, in the same order, fixed to the world
 * body of a second model whose geom poses are copied from the physics data before each frame.
 * mj_multiRay tests each ray against every body's bounding sphere before it looks at geoms; with one
 * body instead of one per link that per-ray work shrinks and a 224 x 224 frame costs about a third less.
 * The images are identical to casting into the physics model (test/camera.test.ts checks this).
 */
export class RenderScene {
  readonly model: MjModel;
  readonly data: MjData;
  readonly ngeom: number;
  /** Geom colours 0..255, 3 per geom. */
  readonly geomRgb: Float32Array;
  readonly geomType: Int32Array;
  readonly geomSize: Float64Array;

  constructor(mj: Mujoco, physics: MjModel) {
    this.ngeom = physics.ngeom;
    // copies: compiling the render model below may grow the WebAssembly heap and detach views
    const type = Int32Array.from((physics.geom_type as Int32Array).subarray(0, this.ngeom));
    const size = Float64Array.from((physics.geom_size as Float64Array).subarray(0, 3 * this.ngeom));
    const rgba = Float32Array.from((physics.geom_rgba as Float32Array).subarray(0, 4 * this.ngeom));
    const geoms: string[] = [];
    for (let g = 0; g < this.ngeom; g++) {
      const t = GEOM_TYPE_NAMES[type[g]];
      if (t === undefined || t === 'hfield') throw new Error(`ray-cast camera: geom ${g} has unsupported type ${type[g]}`);
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

export class RayCamera {
  readonly camId: number;
  readonly width: number;
  readonly height: number;
  private readonly nray: number;
  /** Pixel directions in the camera frame (x right, y up, looking down -z), unit length. */
  private readonly dirCam: Float64Array;
  /** Cosine between each pixel ray and the optical axis, to turn ray distance into depth. */
  private readonly axisCos: Float32Array;
  private readonly dirWorld: Float64Array;
  private readonly pnt = new Float64Array(3);
  private readonly pose = new Float64Array(9);
  private raysValid = false;
  private readonly lightLocal: Float64Array;
  private readonly geomId: ReturnType<Mujoco['IntBuffer']['FromArray']>;
  private readonly dist: ReturnType<Mujoco['DoubleBuffer']['FromArray']>;

  constructor(private readonly mj: Mujoco, physics: MjModel, private readonly scene: RenderScene, readonly name: string, width: number, height: number) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 1024 || height > 1024) {
      throw new Error(`camera '${name}': image size must be 1..1024 pixels, got ${width}x${height}`);
    }
    this.camId = nameToId(mj, physics, 'camera', name);
    this.width = width;
    this.height = height;
    this.nray = width * height;
    const fovy = (physics.cam_fovy as Float64Array)[this.camId] * Math.PI / 180;
    const tanY = Math.tan(fovy / 2);
    const tanX = tanY * (width / height);
    this.dirCam = new Float64Array(3 * this.nray);
    this.axisCos = new Float32Array(this.nray);
    for (let r = 0; r < height; r++) {
      for (let c = 0; c < width; c++) {
        const i = r * width + c;
        // pixel centres; row 0 is the top of the image
        const x = ((c + 0.5) / width * 2 - 1) * tanX;
        const y = (1 - (r + 0.5) / height * 2) * tanY;
        const len = Math.hypot(x, y, 1);
        this.dirCam[3 * i] = x / len;
        this.dirCam[3 * i + 1] = y / len;
        this.dirCam[3 * i + 2] = -1 / len;
        this.axisCos[i] = 1 / len;
      }
    }
    this.dirWorld = new Float64Array(3 * this.nray);
    this.geomId = new mj.IntBuffer(this.nray);
    this.dist = new mj.DoubleBuffer(this.nray);
    this.lightLocal = new Float64Array(3 * scene.ngeom);
  }

  /**
   * Render into `out` (from newFrame) from the physics data: camera pose from `physics`, geometry from
   * the render scene, which the caller has synced with the same data.
   */
  render(physics: MjData, out: CameraFrame): CameraFrame {
    this.updateRays(physics);
    this.mj.mj_multiRay(this.scene.model, this.scene.data, this.pnt as unknown as number[], this.dirWorld as unknown as number[],
      null as unknown as number[], true, -1, this.geomId, this.dist, null, this.nray, CUTOFF_M);
    // views are re-read each frame: a growing WebAssembly heap detaches old ones
    this.shade(this.geomId.GetView() as Int32Array, this.dist.GetView() as Float64Array, out);
    return out;
  }

  /** World-frame ray directions; a camera that has not moved since the last frame keeps them. */
  private updateRays(physics: MjData): void {
    const xpos = physics.cam_xpos as Float64Array;
    const xmat = physics.cam_xmat as Float64Array;
    const o = 9 * this.camId, c = 3 * this.camId;
    let moved = false;
    for (let k = 0; k < 9; k++) if (this.pose[k] !== xmat[o + k]) { moved = true; this.pose[k] = xmat[o + k]; }
    for (let k = 0; k < 3; k++) if (this.pnt[k] !== xpos[c + k]) { moved = true; this.pnt[k] = xpos[c + k]; }
    if (!moved && this.raysValid) return;
    this.raysValid = true;
    const m = this.pose, dc = this.dirCam, dw = this.dirWorld;
    for (let i = 0; i < 3 * this.nray; i += 3) {
      const x = dc[i], y = dc[i + 1], z = dc[i + 2];
      dw[i] = m[0] * x + m[1] * y + m[2] * z;
      dw[i + 1] = m[3] * x + m[4] * y + m[5] * z;
      dw[i + 2] = m[6] * x + m[7] * y + m[8] * z;
    }
  }

  /**
   * Colour and depth per pixel. Surface normals come from the hit point in the geom's own frame
   * (cheaper here than asking mj_multiRay for them); the light is turned into each geom's frame once.
   */
  private shade(gid: Int32Array, dist: Float64Array, out: CameraFrame): void {
    const sd = this.scene.data;
    const gpos = sd.geom_xpos as Float64Array, gmat = sd.geom_xmat as Float64Array;
    const { geomRgb: col, geomType: type, geomSize: size, ngeom } = this.scene;
    const lightLocal = this.lightLocal;
    for (let g = 0; g < ngeom; g++) {
      const R = 9 * g;
      lightLocal[3 * g] = gmat[R] * LIGHT[0] + gmat[R + 3] * LIGHT[1] + gmat[R + 6] * LIGHT[2];
      lightLocal[3 * g + 1] = gmat[R + 1] * LIGHT[0] + gmat[R + 4] * LIGHT[1] + gmat[R + 7] * LIGHT[2];
      lightLocal[3 * g + 2] = gmat[R + 2] * LIGHT[0] + gmat[R + 5] * LIGHT[1] + gmat[R + 8] * LIGHT[2];
    }
    const rgb = out.rgb, depth = out.depth_m, cosA = this.axisCos, dw = this.dirWorld;
    const px = this.pnt[0], py = this.pnt[1], pz = this.pnt[2];
    for (let i = 0, p = 0; i < this.nray; i++, p += 3) {
      const g = gid[i];
      if (g < 0) {
        rgb[p] = BACKGROUND[0]; rgb[p + 1] = BACKGROUND[1]; rgb[p + 2] = BACKGROUND[2];
        depth[i] = Infinity;
        continue;
      }
      const d = dist[i];
      let nx = 0, ny = 0, nz = 1;
      const t = type[g];
      if (t !== GEOM_PLANE) {
        // hit point in the geom frame: R^T (hit - centre)
        const R = 9 * g;
        const hx = px + d * dw[p] - gpos[3 * g], hy = py + d * dw[p + 1] - gpos[3 * g + 1], hz = pz + d * dw[p + 2] - gpos[3 * g + 2];
        const x = gmat[R] * hx + gmat[R + 3] * hy + gmat[R + 6] * hz;
        const y = gmat[R + 1] * hx + gmat[R + 4] * hy + gmat[R + 7] * hz;
        const z = gmat[R + 2] * hx + gmat[R + 5] * hy + gmat[R + 8] * hz;
        const s0 = size[3 * g], s1 = size[3 * g + 1], s2 = size[3 * g + 2];
        if (t === GEOM_BOX) {
          const ax = Math.abs(x) / s0, ay = Math.abs(y) / s1, az = Math.abs(z) / s2;
          if (ax >= ay && ax >= az) { nx = Math.sign(x); nz = 0; } else if (ay >= az) { ny = Math.sign(y); nz = 0; } else nz = Math.sign(z);
        } else if (t === GEOM_CAPSULE) {
          const zc = z > s1 ? z - s1 : z < -s1 ? z + s1 : 0;
          nx = x; ny = y; nz = zc;
        } else if (t === GEOM_CYLINDER) {
          if (Math.abs(z) >= s1 - 1e-6) nz = Math.sign(z); else { nx = x; ny = y; nz = 0; }
        } else if (t === GEOM_ELLIPSOID) {
          nx = x / (s0 * s0); ny = y / (s1 * s1); nz = z / (s2 * s2);
        } else {
          nx = x; ny = y; nz = z;
        }
      }
      const len = Math.sqrt(nx * nx + ny * ny + nz * nz) || 1;
      const lambert = (nx * lightLocal[3 * g] + ny * lightLocal[3 * g + 1] + nz * lightLocal[3 * g + 2]) / len;
      const shade = AMBIENT + DIFFUSE * (lambert > 0 ? lambert : 0);
      rgb[p] = col[3 * g] * shade;
      rgb[p + 1] = col[3 * g + 1] * shade;
      rgb[p + 2] = col[3 * g + 2] * shade;
      depth[i] = d * cosA[i];
    }
  }

  newFrame(): CameraFrame {
    return {
      camera: this.name, width: this.width, height: this.height,
      rgb: new Uint8Array(3 * this.nray), depth_m: new Float32Array(this.nray),
    };
  }

  dispose(): void {
    this.geomId.delete();
    this.dist.delete();
  }
}

function normalize(a: [number, number, number]): [number, number, number] {
  const l = Math.hypot(a[0], a[1], a[2]);
  return [a[0] / l, a[1] / l, a[2] / l];
}
