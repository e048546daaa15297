// The simulated joint trajectory controller: a trajectory_msgs/JointTrajectory is followed from where the
// controller's target is when it arrives, linearly between its points (at time_from_start after
// arrival), and its last point is held. A new trajectory replaces the old one from "now", which is what
// a stream of one-point trajectories (time_from_start = dt) needs. Speed scaling is always 100 % here.
import { finiteArray, rosSeconds } from '../../protocols/ros/messages.js';

interface Point {
  t_s: number;
  q: Float64Array;
}

export class TrajectoryFollower {
  private points: Point[] = [];

  constructor(private readonly jointNames: readonly string[]) {}

  get active(): boolean {
    return this.points.length > 0;
  }

  /**
   * Start following `msg` at sim time `now_s` from the target `from`. Throws, saying what is wrong, for a bad
   * message.
   */
  start(msg: unknown, now_s: number, from: ArrayLike<number>): void {
    const m = msg as { joint_names?: unknown; points?: unknown };
    if (!Array.isArray(m.joint_names)) throw new Error('joint_trajectory: joint_names is not an array');
    const names = m.joint_names as unknown[];
    // joints may come in any order: find each of ours by name
    const index = this.jointNames.map((j) => {
      const i = names.indexOf(j);
      if (i < 0) throw new Error(`joint_trajectory: joint '${j}' is missing from joint_names [${names.join(', ')}]`);
      return i;
    });
    if (!Array.isArray(m.points) || m.points.length === 0) throw new Error('joint_trajectory: no points');
    const pts: Point[] = [
      { t_s: now_s, q: Float64Array.from(Array.from({ length: this.jointNames.length }, (_, j) => from[j])) },
    ];
    (m.points as unknown[]).forEach((p, k) => {
      const pt = p as { positions?: unknown; time_from_start?: unknown };
      const pos = finiteArray(pt.positions, `joint_trajectory.points[${k}].positions`, names.length);
      const tfs = rosSeconds(pt.time_from_start);
      if (!(tfs >= 0)) throw new Error(`joint_trajectory.points[${k}].time_from_start is not a duration`);
      const t = now_s + tfs;
      if (t < pts[pts.length - 1].t_s) throw new Error(`joint_trajectory.points[${k}]: time_from_start goes backwards`);
      pts.push({ t_s: t, q: Float64Array.from(index.map((i) => pos[i])) });
    });
    this.points = pts;
  }

  /** The target at sim time `now_s` into `out` (joint order); false when no trajectory is active. */
  sample(now_s: number, out: Float64Array): boolean {
    const pts = this.points;
    if (pts.length === 0) return false;
    let k = 1;
    while (k < pts.length && pts[k].t_s <= now_s) k++;
    if (k >= pts.length) {
      out.set(pts[pts.length - 1].q);
      return true;
    }
    const a = pts[k - 1],
      b = pts[k];
    const span = b.t_s - a.t_s;
    const u = span > 0 ? Math.min(1, Math.max(0, (now_s - a.t_s) / span)) : 1;
    for (let j = 0; j < out.length && j < a.q.length; j++) out[j] = a.q[j] + u * (b.q[j] - a.q[j]);
    return true;
  }

  cancel(): void {
    this.points = [];
  }
}
