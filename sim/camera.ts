// Camera images by ray casting: one ray per pixel. Colour is the geom's rgba times a Lambert term from
// one fixed light; depth is the distance along the optical axis. There is no OpenGL in MuJoCo's
// WebAssembly build, and for policies that see 64-224 px images this is fast and fully deterministic.
//
// How a frame is cast, cheapest first:
//  - the image is split into 32 px tiles; a geom whose bounding sphere cannot meet a tile's cone of
//    rays is hidden from that tile (conservative, so nothing visible is ever dropped);
//  - the tile's rays go through one mj_multiRay call against the remaining geoms; a tile that no geom
//    can reach is a known miss and skips the call;
//  - plane geoms (the table) are intersected here, analytically, and the nearer hit wins.
// test/camera.test.ts checks the result pixel by pixel against mj_ray, which tests every geom.

import { normalize, rayLayout, rotate } from './camera-rays.js';
import type { MjData, MjModel, Mujoco } from './mujoco.js';
import { nameToId } from './mujoco.js';
import { GEOM_PLANE, type RenderScene } from './render-scene.js';

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
const GEOM_CAPSULE = 3,
  GEOM_ELLIPSOID = 4,
  GEOM_CYLINDER = 5,
  GEOM_BOX = 6;

const TILE_PX = 32;

interface Tile {
  /** Range of this tile's rays in the camera's ray order (tile after tile). */
  start: number;
  count: number;
  /** Unit direction of the tile's central ray (camera frame) and the widest angle to any of its rays. */
  centreCam: Float64Array;
  halfAngle_rad: number;
  geomId: ReturnType<Mujoco['IntBuffer']['FromArray']>;
  dist: ReturnType<Mujoco['DoubleBuffer']['FromArray']>;
}

export class RayCamera {
  readonly camId: number;
  readonly width: number;
  readonly height: number;
  private readonly nray: number;
  /** Ray directions in the camera frame (x right, y up, looking down -z), unit length, tile by tile. */
  private readonly dirCam: Float64Array;
  /** Pixel index (row-major) of each ray. */
  private readonly pixelOf: Int32Array;
  /** Cosine between each ray and the optical axis, to turn ray distance into depth. */
  private readonly axisCos: Float32Array;
  private readonly dirWorld: Float64Array;
  private readonly tiles: Tile[] = [];
  private readonly centreWorld: Float64Array;
  private readonly visible: Uint8Array;
  private readonly pnt = new Float64Array(3);
  private readonly pose = new Float64Array(9);
  private raysValid = false;
  private readonly lightLocal: Float64Array;

  constructor(
    private readonly mj: Mujoco,
    physics: MjModel,
    private readonly scene: RenderScene,
    readonly name: string,
    width: number,
    height: number,
  ) {
    const ok = (n: number) => Number.isInteger(n) && n >= 1 && n <= 1024;
    if (!ok(width) || !ok(height)) {
      throw new Error(`camera '${name}': image size must be 1..1024 pixels, got ${width}x${height}`);
    }
    this.camId = nameToId(mj, physics, 'camera', name);
    this.width = width;
    this.height = height;
    this.nray = width * height;
    const fovy = ((physics.cam_fovy as Float64Array)[this.camId] * Math.PI) / 180;
    const tanY = Math.tan(fovy / 2);
    const tanX = tanY * (width / height);
    const layout = rayLayout(width, height, tanX, tanY, TILE_PX);
    this.dirCam = layout.dirCam;
    this.pixelOf = layout.pixelOf;
    this.axisCos = layout.axisCos;
    for (const [start, count] of layout.tiles) this.tiles.push(this.makeTile(start, count));
    this.dirWorld = new Float64Array(3 * this.nray);
    this.centreWorld = new Float64Array(3 * this.tiles.length);
    this.visible = new Uint8Array(scene.ngeom);
    this.lightLocal = new Float64Array(3 * scene.ngeom);
  }

  private makeTile(start: number, count: number): Tile {
    const d = this.dirCam;
    const c = new Float64Array(3);
    for (let i = start; i < start + count; i++) {
      c[0] += d[3 * i];
      c[1] += d[3 * i + 1];
      c[2] += d[3 * i + 2];
    }
    const len = Math.hypot(c[0], c[1], c[2]);
    c[0] /= len;
    c[1] /= len;
    c[2] /= len;
    let minCos = 1;
    for (let i = start; i < start + count; i++)
      minCos = Math.min(minCos, c[0] * d[3 * i] + c[1] * d[3 * i + 1] + c[2] * d[3 * i + 2]);
    return {
      start,
      count,
      centreCam: c,
      // a hair wider than the widest ray: the culling must never drop a geom a ray could hit
      halfAngle_rad: Math.acos(Math.max(-1, Math.min(1, minCos))) + 1e-6,
      geomId: new this.mj.IntBuffer(count),
      dist: new this.mj.DoubleBuffer(count),
    };
  }

  /**
   * Render into `out` (from newFrame) from the physics data: camera pose from `physics`, geometry from
   * the render scene, which the caller has synced with the same data.
   */
  render(physics: MjData, out: CameraFrame): CameraFrame {
    this.updateRays(physics);
    const sd = this.scene.data;
    const gpos = sd.geom_xpos as Float64Array;
    this.prepareLight(sd.geom_xmat as Float64Array);
    try {
      for (let t = 0; t < this.tiles.length; t++) {
        const tile = this.tiles[t];
        if (this.cullFor(t, gpos) === 0) {
          // no geom's bounding sphere meets this tile's rays: MuJoCo could only report misses
          this.shade(tile, null, null, out);
          continue;
        }
        this.scene.showOnly(this.visible);
        this.mj.mj_multiRay(
          this.scene.model,
          sd,
          this.pnt as unknown as number[],
          this.dirWorld.subarray(3 * tile.start, 3 * (tile.start + tile.count)) as unknown as number[],
          null as unknown as number[],
          true,
          -1,
          tile.geomId,
          tile.dist,
          null,
          tile.count,
          CUTOFF_M,
        );
        // views are re-read each call: a growing WebAssembly heap detaches old ones
        this.shade(tile, tile.geomId.GetView() as Int32Array, tile.dist.GetView() as Float64Array, out);
      }
    } finally {
      this.scene.showOnly(null);
    }
    return out;
  }

  /**
   * Which geoms a ray of tile `t` can hit: a geom's bounding sphere must meet the tile's cone of rays.
   * Planes are left out: shade() intersects them itself.
   */
  private cullFor(t: number, gpos: Float64Array): number {
    const { geomType, geomRbound, ngeom, baseAlpha } = this.scene;
    let count = 0;
    const cx = this.centreWorld[3 * t],
      cy = this.centreWorld[3 * t + 1],
      cz = this.centreWorld[3 * t + 2];
    const half = this.tiles[t].halfAngle_rad;
    for (let g = 0; g < ngeom; g++) {
      if (baseAlpha[g] === 0) {
        this.visible[g] = 0;
        continue;
      }
      if (geomType[g] === GEOM_PLANE) {
        this.visible[g] = 0;
        continue;
      }
      const vx = gpos[3 * g] - this.pnt[0],
        vy = gpos[3 * g + 1] - this.pnt[1],
        vz = gpos[3 * g + 2] - this.pnt[2];
      const dist = Math.sqrt(vx * vx + vy * vy + vz * vz);
      const r = geomRbound[g];
      if (dist <= r) {
        this.visible[g] = 1;
        count++;
        continue;
      }
      const angle = Math.acos(Math.max(-1, Math.min(1, (vx * cx + vy * cy + vz * cz) / dist)));
      this.visible[g] = angle <= half + Math.asin(r / dist) ? 1 : 0;
      count += this.visible[g];
    }
    return count;
  }

  /** World-frame ray directions; a camera that has not moved since the last frame keeps them. */
  private updateRays(physics: MjData): void {
    const xpos = physics.cam_xpos as Float64Array;
    const xmat = physics.cam_xmat as Float64Array;
    const o = 9 * this.camId,
      c = 3 * this.camId;
    let moved = false;
    for (let k = 0; k < 9; k++)
      if (this.pose[k] !== xmat[o + k]) {
        moved = true;
        this.pose[k] = xmat[o + k];
      }
    for (let k = 0; k < 3; k++)
      if (this.pnt[k] !== xpos[c + k]) {
        moved = true;
        this.pnt[k] = xpos[c + k];
      }
    if (!moved && this.raysValid) return;
    this.raysValid = true;
    rotate(this.pose, this.dirCam, this.dirWorld, this.nray);
    this.tiles.forEach((tile, t) => {
      rotate(this.pose, tile.centreCam, this.centreWorld.subarray(3 * t, 3 * t + 3), 1);
    });
  }

  /** The light direction in each geom's frame, so shading needs no per-pixel rotation. */
  private prepareLight(gmat: Float64Array): void {
    const L = this.lightLocal;
    for (let g = 0; g < this.scene.ngeom; g++) {
      const R = 9 * g;
      L[3 * g] = gmat[R] * LIGHT[0] + gmat[R + 3] * LIGHT[1] + gmat[R + 6] * LIGHT[2];
      L[3 * g + 1] = gmat[R + 1] * LIGHT[0] + gmat[R + 4] * LIGHT[1] + gmat[R + 7] * LIGHT[2];
      L[3 * g + 2] = gmat[R + 2] * LIGHT[0] + gmat[R + 5] * LIGHT[1] + gmat[R + 8] * LIGHT[2];
    }
  }

  /**
   * Colour and depth of one tile's pixels. Surface normals come from the hit point in the geom's own
   * frame (cheaper here than asking mj_multiRay for them).
   */
  private shade(tile: Tile, gid: Int32Array | null, dist: Float64Array | null, out: CameraFrame): void {
    const sd = this.scene.data;
    const gpos = sd.geom_xpos as Float64Array,
      gmat = sd.geom_xmat as Float64Array;
    const { geomRgb: col, geomType: type, geomSize: size, planes } = this.scene;
    const lightLocal = this.lightLocal;
    const rgb = out.rgb,
      depth = out.depth_m,
      cosA = this.axisCos,
      dw = this.dirWorld,
      pixelOf = this.pixelOf;
    const px = this.pnt[0],
      py = this.pnt[1],
      pz = this.pnt[2];
    for (let j = 0; j < tile.count; j++) {
      const i = tile.start + j;
      const pix = pixelOf[i],
        p = 3 * pix;
      let g = gid ? gid[j] : -1;
      let d = dist ? dist[j] : Infinity;
      for (const pl of planes) {
        const t = this.planeHit(pl, i, gpos, gmat, size);
        if (t >= 0 && (g < 0 || t < d)) {
          g = pl;
          d = t;
        }
      }
      if (g < 0) {
        rgb[p] = BACKGROUND[0];
        rgb[p + 1] = BACKGROUND[1];
        rgb[p + 2] = BACKGROUND[2];
        depth[pix] = Infinity;
        continue;
      }
      let nx = 0,
        ny = 0,
        nz = 1;
      const t = type[g];
      if (t !== GEOM_PLANE) {
        // hit point in the geom frame: R^T (hit - centre)
        const R = 9 * g;
        const hx = px + d * dw[3 * i] - gpos[3 * g],
          hy = py + d * dw[3 * i + 1] - gpos[3 * g + 1],
          hz = pz + d * dw[3 * i + 2] - gpos[3 * g + 2];
        const x = gmat[R] * hx + gmat[R + 3] * hy + gmat[R + 6] * hz;
        const y = gmat[R + 1] * hx + gmat[R + 4] * hy + gmat[R + 7] * hz;
        const z = gmat[R + 2] * hx + gmat[R + 5] * hy + gmat[R + 8] * hz;
        const s0 = size[3 * g],
          s1 = size[3 * g + 1],
          s2 = size[3 * g + 2];
        if (t === GEOM_BOX) {
          const ax = Math.abs(x) / s0,
            ay = Math.abs(y) / s1,
            az = Math.abs(z) / s2;
          if (ax >= ay && ax >= az) {
            nx = Math.sign(x);
            nz = 0;
          } else if (ay >= az) {
            ny = Math.sign(y);
            nz = 0;
          } else nz = Math.sign(z);
        } else if (t === GEOM_CAPSULE) {
          nx = x;
          ny = y;
          nz = z > s1 ? z - s1 : z < -s1 ? z + s1 : 0;
        } else if (t === GEOM_CYLINDER) {
          if (Math.abs(z) >= s1 - 1e-6) nz = Math.sign(z);
          else {
            nx = x;
            ny = y;
            nz = 0;
          }
        } else if (t === GEOM_ELLIPSOID) {
          nx = x / (s0 * s0);
          ny = y / (s1 * s1);
          nz = z / (s2 * s2);
        } else {
          nx = x;
          ny = y;
          nz = z;
        }
      }
      const len = Math.sqrt(nx * nx + ny * ny + nz * nz) || 1;
      const lambert = (nx * lightLocal[3 * g] + ny * lightLocal[3 * g + 1] + nz * lightLocal[3 * g + 2]) / len;
      const shade = AMBIENT + DIFFUSE * Math.max(lambert, 0);
      rgb[p] = col[3 * g] * shade;
      rgb[p + 1] = col[3 * g + 1] * shade;
      rgb[p + 2] = col[3 * g + 2] * shade;
      depth[pix] = d * cosA[i];
    }
  }

  /**
   * Distance along ray `i` to plane geom `g`, or -1: only its front face, only inside its rendered
   * rectangle (size 0 = unbounded), as mj_ray treats planes. Most rays end on the table, and this
   * costs a few multiplications where MuJoCo's plane test cost as much as the rest of the ray.
   */
  private planeHit(g: number, i: number, gpos: Float64Array, gmat: Float64Array, size: Float64Array): number {
    const R = 9 * g,
      dw = this.dirWorld;
    const dx = dw[3 * i],
      dy = dw[3 * i + 1],
      dz = dw[3 * i + 2];
    const nx = gmat[R + 2],
      ny = gmat[R + 5],
      nz = gmat[R + 8];
    const dn = dx * nx + dy * ny + dz * nz;
    if (dn > -1e-12) return -1;
    const ox = this.pnt[0] - gpos[3 * g],
      oy = this.pnt[1] - gpos[3 * g + 1],
      oz = this.pnt[2] - gpos[3 * g + 2];
    const t = -(ox * nx + oy * ny + oz * nz) / dn;
    if (t < 0) return -1;
    const hx = ox + t * dx,
      hy = oy + t * dy,
      hz = oz + t * dz;
    const sx = size[3 * g],
      sy = size[3 * g + 1];
    if (sx > 0 && Math.abs(gmat[R] * hx + gmat[R + 3] * hy + gmat[R + 6] * hz) > sx) return -1;
    if (sy > 0 && Math.abs(gmat[R + 1] * hx + gmat[R + 4] * hy + gmat[R + 7] * hz) > sy) return -1;
    return t;
  }

  newFrame(): CameraFrame {
    return {
      camera: this.name,
      width: this.width,
      height: this.height,
      rgb: new Uint8Array(3 * this.nray),
      depth_m: new Float32Array(this.nray),
    };
  }

  dispose(): void {
    for (const t of this.tiles) {
      t.geomId.delete();
      t.dist.delete();
    }
  }
}

/** out = R v for `n` unit vectors (R row-major 3x3). */
