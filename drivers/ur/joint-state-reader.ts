// Reads sensor_msgs/JointState into the driver's joint order by NAME: the UR driver does not promise
// any order, and a message may carry more joints (a gripper, a second arm) than we use.
import { finiteArray } from '../../protocols/ros/messages.js';

export interface MeasuredJoints {
  position_rad: Float64Array;
  velocity_rad_s: Float64Array;
  /** Position of the gripper joint, or NaN when the message does not carry it. */
  gripper: number;
}

export class JointStateReader {
  private cachedNames: string[] = [];
  private index: Int32Array;
  private gripperIndex = -1;

  constructor(
    private readonly jointNames: readonly string[],
    private readonly gripperJoint: string,
  ) {
    this.index = new Int32Array(jointNames.length);
  }

  /** Fill `out` from one message. Throws, naming what is wrong, for a message we cannot use. */
  read(msg: unknown, out: MeasuredJoints): void {
    const m = msg as { name?: unknown; position?: unknown; velocity?: unknown };
    if (!Array.isArray(m.name)) throw new Error('joint_states: name is not an array');
    const names = m.name as string[];
    this.remap(names);
    const pos = finiteArray(m.position, 'joint_states.position', names.length);
    // velocity is optional in JointState (empty when not measured)
    const vel =
      Array.isArray(m.velocity) && m.velocity.length === names.length
        ? finiteArray(m.velocity, 'joint_states.velocity')
        : undefined;
    for (let j = 0; j < this.index.length; j++) {
      out.position_rad[j] = pos[this.index[j]];
      out.velocity_rad_s[j] = vel ? vel[this.index[j]] : 0;
    }
    out.gripper = this.gripperIndex >= 0 ? pos[this.gripperIndex] : NaN;
  }

  private remap(names: string[]): void {
    // a plain loop: every() skips the holes of a sparse array, which would pass a missing name for the cached one
    let same = names.length === this.cachedNames.length;
    for (let i = 0; same && i < names.length; i++) same = names[i] === this.cachedNames[i];
    if (same) return;
    // built aside, so a message that lacks a joint leaves the mapping of the last good one intact
    const index = Int32Array.from(this.jointNames, (j) => {
      const i = names.indexOf(j);
      if (i < 0) throw new Error(`joint_states has no joint '${j}' (it has: ${names.join(', ')})`);
      return i;
    });
    this.index = index;
    this.gripperIndex = names.indexOf(this.gripperJoint);
    this.cachedNames = names.slice();
  }
}
