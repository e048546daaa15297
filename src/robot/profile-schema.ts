// The robot profile file (calibration/profiles/<robot>.json, or a user's own): what the runtime must know
// about a robot to command it safely. Validated here; description.ts turns it into the RobotDescription
// every part of the runtime takes.
import { z } from 'zod';
import { RosSettingsBaseSchema } from '../../calibration/ros-settings.js';

const JointLimits = z
  .object({
    name: z.string().min(1),
    min_rad: z.number().finite(),
    max_rad: z.number().finite(),
    max_velocity_rad_s: z.number().positive().finite(),
  })
  .strict()
  .refine((j) => j.min_rad < j.max_rad, { message: 'min_rad must be below max_rad' });

const Camera = z
  .object({
    name: z.string().min(1),
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    /**
     * A camera on the robot host instead of the robot's own stream: '/dev/videoN[:WxH][@FPS]'
     * (drivers/cameras/camera-spec.ts).
     */
    source: z.string().min(1).optional(),
  })
  .strict();

const PerJoint = z.array(z.number().finite());
/** Standard DH parameters (UR's published table): the flange's position, for a Cartesian workspace box. */
const Kinematics = z.object({ dh: z.object({ d_m: PerJoint, a_m: PerJoint, alpha_rad: PerJoint }).strict() }).strict();

export const RobotProfileSchema = z
  .object({
    robot: z.string().min(1),
    description: z.string().optional(),
    control_hz: z.number().positive().max(1000),
    /** Arm joints, in the order of the measured state. */
    joints: z.array(JointLimits).min(1),
    /** Grippers, 0 closed .. 1 open. */
    grippers: z.array(z.string().min(1)),
    /** The action vector: every joint and gripper name exactly once (per arm: joints, then its gripper). */
    action: z.array(z.string().min(1)).min(1),
    home_rad: z.array(z.number().finite()),
    home_gripper: z.array(z.number().min(0).max(1)),
    /** Largest change of a joint command per tick (rad), on top of velocity limit x period. */
    max_step_rad: z.number().positive().finite().optional(),
    /** The arm's kinematics (optional: without them only a joint-space workspace box can be used). */
    kinematics: Kinematics.optional(),
    cameras: z.array(Camera),
    /**
     * UR cells: rosbridge URL, layout, topics, fault timings; any field left out takes the layout's default
     * (ros-settings.ts).
     */
    ros: RosSettingsBaseSchema.partial()
      .extend({ topics: RosSettingsBaseSchema.shape.topics.partial().optional() })
      .strict()
      .optional(),
  })
  .strict()
  .refine((p) => p.home_rad.length === p.joints.length, {
    message: 'home_rad needs one value per joint',
    path: ['home_rad'],
  })
  .refine(
    (p) => p.home_rad.every((q, i) => i >= p.joints.length || (q >= p.joints[i].min_rad && q <= p.joints[i].max_rad)),
    { message: 'home_rad is outside the joint limits', path: ['home_rad'] },
  )
  .refine((p) => p.home_gripper.length === p.grippers.length, {
    message: 'home_gripper needs one value per gripper',
    path: ['home_gripper'],
  })
  .refine((p) => !p.kinematics || Object.values(p.kinematics.dh).every((v) => v.length === p.joints.length), {
    message: 'kinematics.dh needs one d_m, a_m and alpha_rad per joint',
    path: ['kinematics'],
  })
  .refine((p) => sameSet(p.action, [...p.joints.map((j) => j.name), ...p.grippers]), {
    message: 'action must name every joint and gripper exactly once',
    path: ['action'],
  });

export type RobotProfile = z.infer<typeof RobotProfileSchema>;

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && new Set(a).size === a.length && b.every((x) => a.includes(x));
}
