// The person at the keyboard takes the arm over (HIL-SERL's intervention, from a terminal): while they hold it,
// their correction replaces the residual's, within the same bound, and those decisions are the session's
// interventions (counted, kept apart for the actor to imitate). A terminal reports presses, not key releases, so
// a correction stays until changed:
//   t      take the arm over / give it back          [ ]  the previous / next joint
//   + -    push the joint half its bound further      0    let go of every joint (correction 0, still held)
// On a rig with leader arms (ALOHA), t hands the followers to the leaders instead, and t again hands them back: the
// person moves the leaders (leader-takeover.ts: it engages once each leader is near its follower).
import { ENGAGE_RAD } from './leader-takeover.js';

/**
 * What a key did: a new correction (u in [-1, 1] per action dimension), 'leaders' (the leader arms have the
 * followers), null (handed back), or nothing.
 */
export type TakeoverKey = number[] | 'leaders' | null | undefined;

/** Each press moves the correction this far (of the bound). */
const PUSH = 0.5;

export class KeyboardTakeover {
  private u: Float64Array | undefined;
  private joint = 0;

  constructor(
    private readonly action_names: readonly string[],
    private readonly say: (line: string) => void,
    private readonly leaders = false,
  ) {}

  get active(): boolean {
    return this.u !== undefined;
  }

  /** A key while an episode runs: undefined when it is not a takeover key (or not one now). */
  key(k: string): TakeoverKey {
    if (k === 't') return this.toggle();
    const u = this.u;
    if (!u || this.leaders) return undefined;
    const n = this.action_names.length;
    if (k === '[' || k === ']') {
      this.joint = (this.joint + (k === ']' ? 1 : n - 1)) % n;
      this.say(`takeover: ${this.action_names[this.joint]} (at ${u[this.joint].toFixed(1)} of its bound)`);
      return undefined;
    }
    if (k === '+' || k === '=') u[this.joint] = Math.min(1, u[this.joint] + PUSH);
    else if (k === '-' || k === '_') u[this.joint] = Math.max(-1, u[this.joint] - PUSH);
    else if (k === '0') u.fill(0);
    else return undefined;
    this.say(`takeover: ${this.action_names[this.joint]} at ${u[this.joint].toFixed(1)} of its bound`);
    return Array.from(u);
  }

  /** The episode ended: the next one starts with the residual in charge. */
  end(): void {
    this.u = undefined;
  }

  private toggle(): TakeoverKey {
    if (this.u) {
      this.u = undefined;
      this.say('takeover ended: the residual has the arm again');
      return null;
    }
    this.u = new Float64Array(this.action_names.length);
    if (this.leaders) {
      const deg = ((ENGAGE_RAD * 180) / Math.PI).toFixed(0);
      this.say(
        `takeover: the leader arms get the followers once each leader joint is within ${deg} deg of its ` +
          'follower; t gives them back',
      );
      return 'leaders';
    }
    this.say(
      `takeover: you have the arm (${this.action_names[this.joint]}): [ ] choose a joint, + - push it, ` +
        '0 let go, t give it back',
    );
    return Array.from(this.u);
  }
}
