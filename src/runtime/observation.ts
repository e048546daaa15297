// Robot state in the action layout (per arm: joints, then gripper), the form policies consume.
import type { JointState, RobotDescription } from '../../drivers/driver.js';

export interface StateLayout {
  /** For each action index: index into JointState.position_rad, or -1 - gripper index. */
  source: Int32Array;
}

export function stateLayout(desc: RobotDescription): StateLayout {
  const source = new Int32Array(desc.action_names.length);
  desc.action_names.forEach((name, i) => {
    const j = desc.joint_names.indexOf(name);
    const g = desc.gripper_names.indexOf(name);
    if (j < 0 && g < 0) throw new Error(`action '${name}' is neither a joint nor a gripper of ${desc.robot}`);
    source[i] = j >= 0 ? j : -1 - g;
  });
  return { source };
}

export function stateVector(layout: StateLayout, s: Pick<JointState, 'position_rad' | 'gripper'>, out: Float32Array | Float64Array): typeof out {
  for (let i = 0; i < layout.source.length; i++) {
    const src = layout.source[i];
    out[i] = src >= 0 ? s.position_rad[src] : s.gripper[-1 - src];
  }
  return out;
}
