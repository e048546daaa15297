// ALOHA's leader arms (WidowX 250 s) in the emulator: the arms a person moves by hand to teleoperate the followers.
// Their servos are limp and wired to nothing in the sim: they report, over their own buses, the pose a person holds
// them in. Here that pose is set over the sim link ('leader' op; a scripted operator plays the person) and stays
// until set again, as a leader arm stays where it was put down. Torque commands are accepted and change nothing
// (a real leader arm is never torqued by the driver: it is only read).
import type { AlohaSide } from '../../protocols/aloha/motor-map.js';
import { gripperAngle, mountedTicks, type WiredMotor, wireArm } from './aloha-rig.js';
import type { EmulatedServo } from './servo.js';

/** Where a person holds one leader arm: its 6 joints (rad) and gripper handle (0 closed .. 1 open). */
export interface LeaderPose {
  position_rad: number[];
  gripper: number;
}

export class EmulatedLeaderArm {
  readonly servos: EmulatedServo[];
  private readonly wired: WiredMotor[];
  private held: LeaderPose;

  constructor(
    readonly side: AlohaSide,
    rest: LeaderPose,
  ) {
    this.wired = wireArm(side, 'leader');
    this.servos = this.wired.map((w) => w.servo);
    this.held = { position_rad: [...rest.position_rad], gripper: rest.gripper };
    this.sense();
  }

  /** A person moves the arm there (at once: the emulator plays the hand, not its speed). */
  hold(pose: LeaderPose): void {
    this.held = { position_rad: [...pose.position_rad], gripper: pose.gripper };
    this.sense();
  }

  pose(): LeaderPose {
    return { position_rad: [...this.held.position_rad], gripper: this.held.gripper };
  }

  /** Present positions from the held pose. */
  private sense(): void {
    for (const w of this.wired) {
      const angle = w.joint === 'gripper' ? gripperAngle(this.held.gripper) : this.held.position_rad[w.joint];
      w.servo.setMechanical(mountedTicks(w, angle), 0);
    }
  }
}
