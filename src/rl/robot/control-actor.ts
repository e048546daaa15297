// The fine-tuner's exploring actor inside the real-time control thread (a residual plug-in, runtime-types.ts): the
// same ResidualCorrector and ActorUnit the sim rollouts use, so the robot gets base action + bound x u through the
// one safety filter, with the decision made in the tick itself. The scripted operator runs here too, so its
// takeover replaces u in the very tick it decides to; a person's takeover (from the keyboard) arrives between two
// ticks and has the next one. On a rig with leader arms, a takeover (the key, or the scripted operator holding them
// at its plan) hands the followers to the leaders, every tick (leader-takeover.ts). Each decision's inputs and u are
// kept in buffers sized once
// per run and handed to the main thread after the episode (actor-channel.ts). The scripted operator's plan search
// still allocates a little at each decision (every few ticks): a simulated cell's cost, not a real robot's.
import type { MessagePort } from 'node:worker_threads';
import { type RobotName, robotModel } from '../../../sim/robots/index.js';
import type { TaskName, TaskState } from '../../../sim/tasks/task.js';
import { ResidualCorrector } from '../../policy/residual/residual-corrector.js';
import { inputSize, parseResidualManifest } from '../../policy/residual/residual-manifest.js';
import { actionLayout, type RobotDescription } from '../../robot/index.js';
import { Rng } from '../../util/rng.js';
import { ActorUnit, actorLayers } from '../actor-net.js';
import { ScriptedOperator } from '../operator/scripted-operator.js';
import type { CollectedDecisions, ControlActorInit, FromControlActor, ToControlActor } from './actor-channel.js';
import { LeaderTakeover } from './leader-takeover.js';

class DecisionLog {
  readonly inputs: Float32Array;
  readonly u: Float32Array;
  readonly labels: Float32Array | undefined;
  readonly ticks: Int32Array;
  readonly interventions: number[] = [];
  steps = 0;
  dropped = 0;

  constructor(
    private readonly O: number,
    private readonly A: number,
    private readonly capacity: number,
    labelled: boolean,
  ) {
    this.inputs = new Float32Array(capacity * O);
    this.u = new Float32Array(capacity * A);
    this.labels = labelled ? new Float32Array(capacity * A) : undefined;
    this.ticks = new Int32Array(capacity);
  }

  add(k: number, x: Float32Array, u: Float64Array, took: boolean, label: Float64Array | undefined): void {
    if (this.steps >= this.capacity) return void this.dropped++;
    this.ticks[this.steps] = k;
    if (took) this.interventions.push(this.steps);
    this.inputs.set(x, this.steps * this.O);
    this.u.set(u, this.steps * this.A);
    if (label && this.labels) this.labels.set(label, this.steps * this.A);
    this.steps++;
  }

  /** The episode's decisions (copies: the buffers are reused), and a clean log for the next. */
  take(labelled: boolean): CollectedDecisions {
    const n = this.steps;
    const out: CollectedDecisions = {
      type: 'decisions',
      steps: n,
      ticks: this.ticks.slice(0, n),
      inputs: this.inputs.slice(0, n * this.O),
      u: this.u.slice(0, n * this.A),
      interventions: this.interventions.splice(0),
      ...(this.labels && labelled ? { labels: this.labels.slice(0, n * this.A) } : {}),
      dropped: this.dropped,
    };
    this.steps = 0;
    this.dropped = 0;
    return out;
  }
}

/** The plug-in's factory (runtime-types.ts ResidualPlugin): called once in the control thread. */
export function createControlResidual(
  desc: RobotDescription,
  init: unknown,
  port: MessagePort,
  _features: number,
): ResidualCorrector {
  const c = init as ControlActorInit;
  const manifest = parseResidualManifest(c.manifest, 'the fine-tuner');
  const A = desc.action_names.length;
  const zero = c.sizes.slice(1).flatMap((n, i) => [new Float32Array(c.sizes[i] * n), new Float32Array(n)]);
  const unit = new ActorUnit(actorLayers(zero, c.sizes), A);
  const corrector = new ResidualCorrector(desc, manifest, unit.unit);
  // the task state of the armed episode only: one from before its reset would plan the last episode's scene
  let task: (TaskState & { seed?: number }) | undefined;
  let armedSeed = -1;
  const op = c.operator;
  const operator = op
    ? new ScriptedOperator(
        robotModel(op.robot as RobotName),
        op.task as TaskName,
        desc.control_hz,
        corrector.frame,
        Array.from(desc.action_source, (src) => src >= 0),
        op.settings,
        () => task as TaskState,
      )
    : undefined;
  const log = new DecisionLog(inputSize(manifest), A, c.max_decisions, operator?.labelsAll === true);
  let watching = false;
  let exploring = false;
  // the person at the keyboard holding the arm: their correction replaces the residual's at every decision
  let human: Float64Array | undefined;
  const post = (m: FromControlActor, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
  const leaders = c.leaders ? leaderTakeover(desc, manifest.scale, corrector, operator ? undefined : post) : undefined;
  const scratch = new Float64Array(A);
  const followers = new Float64Array(A);
  corrector.takeover = (k, state, base, u) => {
    if (human) {
      u.set(human);
      return true;
    }
    if (!leaders) return watching && task ? (operator as ScriptedOperator).decide(k, state, base, u) : false;
    if (watching && task) {
      // the scripted operator takes over as a person would: by holding the leader arms where the plan is
      scratch.set(u);
      const plan = operator as ScriptedOperator;
      const wants = plan.decide(k, state, base, scratch);
      leaders.want(wants);
      // engaging checks the pose posted at an earlier decision (this one's is not on the leaders yet)
      const took = leaders.decide(state, base, u);
      if (wants) {
        // as a person would: first bring the leaders to where the followers are, then move them along the plan
        const pose = leaders.active ? plan.plan_point : actionLayout(desc, state, followers);
        post({ type: 'leader_pose', pose: Array.from(pose) });
        leaders.expect(pose);
      }
      return took;
    }
    return leaders.decide(state, base, u);
  };
  if (leaders) corrector.steer = (state, command) => exploring && leaders.steer(state, command);
  corrector.onEvaluate = (k, x, u, took) => log.add(k, x, u, took, watching ? operator?.label : undefined);
  port.on('message', (m: ToControlActor) => {
    try {
      if (m.type === 'task_state') {
        const t = m.state as TaskState & { seed?: number };
        if (t.seed === undefined || t.seed === armedSeed) task = t;
      } else if (m.type === 'steer') {
        // training episodes only: an evaluation measures the residual alone
        if (!exploring) return;
        human = m.u
          ? Float64Array.from(m.u, (x) => (Number.isFinite(x) ? Math.max(-1, Math.min(1, x)) : 0))
          : undefined;
        corrector.evaluateNext(); // the person wins in the next tick, not at the next decision
      } else if (m.type === 'leaders') {
        if (!exploring || !leaders) return;
        leaders.want(m.on);
        corrector.evaluateNext();
      } else if (m.type === 'arm') {
        unit.load(actorLayers(m.values, c.sizes));
        unit.bound = m.bound;
        unit.explore = m.explore_seed === null ? undefined : new Rng(m.explore_seed);
        exploring = m.explore_seed !== null;
        watching = operator !== undefined && exploring;
        if (watching) operator?.reset(m.seed);
        armedSeed = m.seed;
        task = undefined;
        human = undefined;
        leaders?.reset();
        log.take(false);
        post({ type: 'armed' });
      } else if (m.type === 'collect') {
        leaders?.want(false);
        const d: CollectedDecisions = {
          ...log.take(watching),
          ...(leaders ? { leaders: { ...leaders.figures } } : {}),
        };
        const buffers = [d.ticks, d.inputs, d.u, ...(d.labels ? [d.labels] : [])].map((a) => a.buffer as ArrayBuffer);
        post(d, buffers);
      }
    } catch (err) {
      post({ type: 'error', message: (err as Error).message });
    }
  });
  return corrector;
}

/**
 * The takeover through leader arms; `note`: where to tell the person at the keyboard what it does (none for the
 * scripted operator, whose takeovers come by the hundred).
 */
function leaderTakeover(
  desc: RobotDescription,
  scale: readonly number[],
  corrector: ResidualCorrector,
  note: ((m: FromControlActor) => void) | undefined,
): LeaderTakeover {
  const l = new LeaderTakeover(desc.action_names, desc.action_source, Float64Array.from(scale), desc.control_hz);
  l.onRelease = () => corrector.evaluateNext();
  if (note) l.onEvent = (text) => note({ type: 'leader_note', text });
  return l;
}
