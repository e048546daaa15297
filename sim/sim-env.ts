// The simulated robot cell: one MuJoCo model and data for a robot + task, stepped one control tick
// (physics_hz / control_hz substeps) at a time. It knows nothing about wall time; the sim driver
// decides when ticks happen.

import { loadRobot, type RobotDescription } from '../src/robot/index.js';
import { Rng } from '../src/util/rng.js';
import { type CameraFrame, RayCamera } from './camera.js';
import type { Vec3 } from './math3d.js';
import { MjLookup } from './mj-lookup.js';
import { contactSensorName, sceneToMjcf } from './mjcf.js';
import { loadMujoco, type MjData, type MjModel, type Mujoco, nameToId } from './mujoco.js';
import { checkAgainstModel } from './profile-check.js';
import { RenderScene } from './render-scene.js';
import { jointNames } from './robots/arm-spec.js';
import { actionNames, type RobotModel, type RobotName, robotModel } from './robots/index.js';
import {
  createTask,
  TASKS_BY_ROBOT,
  type Task,
  type TaskName,
  type TaskState,
  type TaskWorld,
  taskTickLimit,
} from './tasks/index.js';
import type { ObjectPose, TaskOutcome } from './tasks/task.js';

export interface SimOptions {
  robot: RobotName;
  /** The robot as its profile describes it (default: the shipped profile); the sim is checked against it. */
  description?: RobotDescription;
  task?: TaskName;
  /** Physics rate (Hz); must be a whole multiple of control_hz. Default 500. */
  physics_hz?: number;
  /** Control tick rate (Hz). Default 50. */
  control_hz?: number;
}

export interface SimSnapshot {
  qpos: Float64Array;
  mocap_pos: Float64Array;
}

export interface SimArmState {
  position_rad: Float64Array;
  velocity_rad_s: Float64Array;
  /** One per gripper, 0 closed .. 1 open. */
  gripper: Float64Array;
}

interface ArmIndex {
  qposAdr: number[];
  dofAdr: number[];
  actuator: number[];
  gripperActuator: number;
  gripperTendon: number;
  fingerTravel_m: number;
  tcpSite: number;
}

export class SimEnv implements TaskWorld {
  readonly robot: RobotModel;
  readonly description: RobotDescription;
  readonly task: Task;
  readonly physics_hz: number;
  readonly control_hz: number;
  readonly substeps: number;
  readonly action_dim: number;
  readonly action_names: string[];
  readonly joint_names: string[];
  readonly xml: string;
  private readonly arms: ArmIndex[];
  private readonly cameras = new Map<string, RayCamera>();
  private renderScene: RenderScene | undefined;
  private tickCount = 0;
  private achieved = false;
  /** sensordata address of each declared contact pair's sensor, by both geom names in either order. */
  private readonly contactSensorAdr = new Map<string, Map<string, number>>();
  private disposed = false;
  private readonly lookup: MjLookup;

  static async create(opts: SimOptions): Promise<SimEnv> {
    const description = opts.description ?? (await loadRobot(opts.robot));
    return new SimEnv(await loadMujoco(), opts, description);
  }

  private constructor(
    private readonly mj: Mujoco,
    opts: SimOptions,
    description: RobotDescription,
  ) {
    this.robot = robotModel(opts.robot);
    checkAgainstModel(description, this.robot);
    this.description = description;
    const taskName = opts.task ?? TASKS_BY_ROBOT[opts.robot][0];
    if (!TASKS_BY_ROBOT[opts.robot].includes(taskName)) {
      throw new Error(
        `task '${taskName}' is not available for robot '${opts.robot}' (valid: ` +
          `${TASKS_BY_ROBOT[opts.robot].join(', ')})`,
      );
    }
    this.task = createTask(taskName);
    this.control_hz = opts.control_hz ?? 50;
    this.physics_hz = opts.physics_hz ?? 500;
    const substeps = this.physics_hz / this.control_hz;
    if (!Number.isInteger(substeps) || substeps < 1) {
      throw new Error(
        `physics rate ${this.physics_hz} Hz must be a whole multiple of the control rate ${this.control_hz} Hz`,
      );
    }
    this.substeps = substeps;
    this.xml = sceneToMjcf({
      name: `${this.robot.name}-${taskName}`,
      timestep_s: 1 / this.physics_hz,
      arms: this.robot.arms,
      table: this.robot.table,
      objects: this.task.objects(),
      cameras: this.robot.cameras,
      contact_sensors: this.task.contacts,
    });
    this.model = mj.MjModel.from_xml_string(this.xml);
    this.data = new mj.MjData(this.model);
    this.lookup = new MjLookup(mj, this.model, this.data);
    const sensorAdr = this.model.sensor_adr as Int32Array;
    for (const [a, b] of this.task.contacts) {
      const adr = sensorAdr[nameToId(mj, this.model, 'sensor', contactSensorName(a, b))];
      for (const [x, y] of [
        [a, b],
        [b, a],
      ]) {
        if (!this.contactSensorAdr.has(x)) this.contactSensorAdr.set(x, new Map());
        this.contactSensorAdr.get(x)!.set(y, adr);
      }
    }
    const jntQpos = this.model.jnt_qposadr as Int32Array;
    const jntDof = this.model.jnt_dofadr as Int32Array;
    this.arms = this.robot.arms.map((arm) => {
      const joints = arm.links.map((l) => nameToId(mj, this.model, 'joint', arm.prefix + l.joint));
      return {
        qposAdr: joints.map((j) => jntQpos[j]),
        dofAdr: joints.map((j) => jntDof[j]),
        actuator: arm.links.map((l) => nameToId(mj, this.model, 'actuator', arm.prefix + l.joint)),
        gripperActuator: nameToId(mj, this.model, 'actuator', `${arm.prefix}gripper`),
        gripperTendon: nameToId(mj, this.model, 'tendon', `${arm.prefix}gripper`),
        fingerTravel_m: arm.gripper.finger_travel_m,
        tcpSite: nameToId(mj, this.model, 'site', `${arm.prefix}tcp`),
      };
    });
    this.action_names = actionNames(this.robot);
    this.action_dim = this.action_names.length;
    this.joint_names = this.robot.arms.flatMap(jointNames);
  }

  readonly model: MjModel;
  readonly data: MjData;

  get tick(): number {
    return this.tickCount;
  }
  /** True once the task's goal has held at the end of some tick this episode. */
  get success(): boolean {
    return this.achieved;
  }
  get done(): boolean {
    return this.achieved || this.tickCount >= this.max_ticks;
  }
  /** The task's episode limit at this control rate. */
  get max_ticks(): number {
    return taskTickLimit(this.task, this.control_hz);
  }
  get sim_time_s(): number {
    return this.tickCount / this.control_hz;
  }

  /** Start a new episode: robot at home, objects placed from `seed`. */
  reset(seed: number): void {
    const { mj, model, data } = this;
    mj.mj_resetData(model, data);
    const { qpos, ctrl } = this.lookup.views;
    let j = 0;
    const home = this.description.home_rad;
    this.arms.forEach((arm, a) => {
      arm.qposAdr.forEach((adr, i) => {
        qpos[adr] = home[j];
        ctrl[arm.actuator[i]] = home[j];
        j++;
      });
      const g = this.description.home_gripper[a] * arm.fingerTravel_m;
      ctrl[arm.gripperActuator] = g;
      // both fingers start where the actuator will hold them
      const tendonJoints = this.fingerQposAdr(a);
      qpos[tendonJoints[0]] = g;
      qpos[tendonJoints[1]] = g;
    });
    this.task.reset(this, new Rng(seed));
    mj.mj_forward(model, data);
    this.tickCount = 0;
    this.achieved = false;
  }

  /** Set the servo targets: per arm, joint positions (rad) then gripper (0 closed .. 1 open). */
  applyAction(action: ArrayLike<number>): void {
    if (action.length !== this.action_dim) {
      throw new Error(
        `action has ${action.length} values, ${this.robot.name} expects ${this.action_dim} ` +
          `(${this.action_names.join(', ')})`,
      );
    }
    for (let i = 0; i < action.length; i++) {
      if (!Number.isFinite(action[i]))
        throw new Error(`action[${i}] (${this.action_names[i]}) is not finite: ${action[i]}`);
    }
    const ctrl = this.lookup.views.ctrl;
    let k = 0;
    for (let a = 0; a < this.arms.length; a++) {
      const arm = this.arms[a];
      for (let i = 0; i < arm.actuator.length; i++) ctrl[arm.actuator[i]] = action[k++];
      const g = Math.min(1, Math.max(0, action[k++]));
      ctrl[arm.gripperActuator] = g * arm.fingerTravel_m;
    }
  }

  /** Advance one control tick and update the task's success. */
  step(): void {
    if (this.tickCount === 0) this.task.begin?.(this);
    for (let i = 0; i < this.substeps; i++) this.mj.mj_step(this.model, this.data);
    this.tickCount++;
    if (this.task.evaluate(this)) this.achieved = true;
  }

  readState(out: SimArmState): SimArmState {
    const { qpos, qvel, ten_length: ten } = this.lookup.views;
    let k = 0;
    for (let a = 0; a < this.arms.length; a++) {
      const arm = this.arms[a];
      for (let i = 0; i < arm.qposAdr.length; i++, k++) {
        out.position_rad[k] = qpos[arm.qposAdr[i]];
        out.velocity_rad_s[k] = qvel[arm.dofAdr[i]];
      }
      out.gripper[a] = Math.min(1, Math.max(0, ten[arm.gripperTendon] / arm.fingerTravel_m));
    }
    return out;
  }

  newState(): SimArmState {
    return {
      position_rad: new Float64Array(this.joint_names.length),
      velocity_rad_s: new Float64Array(this.joint_names.length),
      gripper: new Float64Array(this.arms.length),
    };
  }

  taskState(): TaskState {
    return this.task.state(this);
  }

  /** How the episode stands in the scene (the task's figures: distances, flags); read at its end. */
  taskOutcome(): TaskOutcome {
    // only what JSON and the actors' protocol carry: finite numbers and flags
    const figures = this.task.outcome(this);
    for (const [k, v] of Object.entries(figures)) if (typeof v === 'number' && !Number.isFinite(v)) delete figures[k];
    return figures;
  }

  /** Everything the cameras see (joint and object positions, markers), to render elsewhere. */
  snapshot(): SimSnapshot {
    return {
      qpos: Float64Array.from(this.lookup.views.qpos),
      mocap_pos: Float64Array.from(this.lookup.views.mocap_pos),
    };
  }

  /**
   * Put the scene into a snapshot's pose for rendering (another thread's sim, same robot and task).
   * Positions only: do not step physics from here.
   */
  showSnapshot(s: SimSnapshot): void {
    this.lookup.views.qpos.set(s.qpos);
    this.lookup.views.mocap_pos.set(s.mocap_pos);
    this.mj.mj_kinematics(this.model, this.data);
    // camera poses are not part of mj_kinematics: without this a camera on a moving body (the wrist)
    // would render from wherever it was last computed
    this.mj.mj_camlight(this.model, this.data);
  }

  cameraNames(): string[] {
    return this.robot.cameras.map((c) => c.name);
  }

  /** A renderer for one camera at one size; reuse its frames to avoid allocating per image. */
  camera(name: string, width: number, height = width): RayCamera {
    if (!this.cameraNames().includes(name)) {
      throw new Error(`robot '${this.robot.name}' has no camera '${name}' (valid: ${this.cameraNames().join(', ')})`);
    }
    const key = `${name}@${width}x${height}`;
    let cam = this.cameras.get(key);
    if (!cam) {
      this.renderScene ??= new RenderScene(this.mj, this.model);
      cam = new RayCamera(this.mj, this.model, this.renderScene, name, width, height);
      this.cameras.set(key, cam);
    }
    return cam;
  }

  /** Render the current state. Kinematics are refreshed first so the image matches readState(). */
  render(camera: RayCamera, out: CameraFrame = camera.newFrame()): CameraFrame {
    this.mj.mj_kinematics(this.model, this.data);
    this.renderScene!.sync(this.data);
    return camera.render(this.data, out);
  }

  // ---- TaskWorld ----

  objectPose(name: string): ObjectPose {
    const adr = this.lookup.freeJointQposAdr(name);
    const q = this.lookup.views.qpos;
    return { pos: [q[adr], q[adr + 1], q[adr + 2]], quat: [q[adr + 3], q[adr + 4], q[adr + 5], q[adr + 6]] };
  }

  objectPos(name: string, out: Vec3): Vec3 {
    const adr = this.lookup.freeJointQposAdr(name);
    const q = this.lookup.views.qpos;
    out[0] = q[adr];
    out[1] = q[adr + 1];
    out[2] = q[adr + 2];
    return out;
  }

  setObjectPose(name: string, pose: ObjectPose): void {
    const adr = this.lookup.freeJointQposAdr(name);
    const { qpos, qvel } = this.lookup.views;
    qpos.set(pose.pos, adr);
    qpos.set(pose.quat, adr + 3);
    const dof = (this.model.jnt_dofadr as Int32Array)[this.lookup.id('joint', `${name}_joint`)];
    qvel.fill(0, dof, dof + 6);
  }

  markerPos(name: string, out: Vec3 = [0, 0, 0]): Vec3 {
    const m = this.lookup.mocapId(name);
    const p = this.lookup.views.mocap_pos;
    out[0] = p[3 * m];
    out[1] = p[3 * m + 1];
    out[2] = p[3 * m + 2];
    return out;
  }

  setMarkerPos(name: string, pos: Vec3): void {
    this.lookup.views.mocap_pos.set(pos, 3 * this.lookup.mocapId(name));
  }

  gripperGap_m(arm: number): number {
    return 2 * this.lookup.views.ten_length[this.arms[arm].gripperTendon];
  }

  tcpPos(arm: number, out: Vec3 = [0, 0, 0]): Vec3 {
    const s = this.arms[arm].tcpSite;
    const p = this.lookup.views.site_xpos;
    out[0] = p[3 * s];
    out[1] = p[3 * s + 1];
    out[2] = p[3 * s + 2];
    return out;
  }

  touching(geomA: string, geomB: string): boolean {
    const adr = this.contactSensorAdr.get(geomA)?.get(geomB);
    if (adr === undefined) {
      throw new Error(`task '${this.task.name}' asks about contact ${geomA}-${geomB} but does not declare it`);
    }
    return this.lookup.views.sensordata[adr] > 0;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const cam of this.cameras.values()) cam.dispose();
    this.renderScene?.dispose();
    this.data.delete();
    this.model.delete();
  }

  private fingerQposAdr(arm: number): [number, number] {
    const p = this.robot.arms[arm].prefix;
    const q = this.model.jnt_qposadr as Int32Array;
    return [q[this.lookup.id('joint', `${p}finger_left_joint`)], q[this.lookup.id('joint', `${p}finger_right_joint`)]];
  }
}
