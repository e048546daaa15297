// The residual's learner: soft actor-critic in RLPD's sample-efficient form (an ensemble of LayerNorm critics, a
// random pair of target critics per update as in REDQ, several critic updates per actor update, the entropy
// temperature tuned to a target). The actor is a tanh-squashed Gaussian in [-1, 1]^A; the runtime scales it per
// joint. Every random draw (weights, minibatches, the actor's noise, the critic pair) comes from seeded Rngs whose
// state is part of the learner's state: the same seed and data give the same weights, and a run restored from
// a checkpoint continues exactly as if never stopped. The wasm backend runs on one thread (deterministic sums).
import type * as TF from '@tensorflow/tfjs';
import { Rng } from '../util/rng.js';
import { LOG_STD_MAX, LOG_STD_MIN } from './actor-net.js';
import { Adam, globalNorm, Mlp } from './mlp.js';
import { newBatch, type ReplayBuffer, sampleMixed, type TransitionBatch } from './replay-buffer.js';

export interface SacConfig {
  obs_dim: number;
  action_dim: number;
  /** The actor's hidden layers (and the critics', unless critic_hidden says otherwise). */
  hidden: number[];
  /** The critics' hidden layers (default: hidden). */
  critic_hidden?: number[];
  /** Critics in the ensemble (RLPD: 10; 2 is SAC's pair). */
  critics: number;
  /** Target critics whose minimum makes the TD target (2). */
  critic_subset: number;
  gamma: number;
  /** Polyak rate of the target critics. */
  tau: number;
  lr: number;
  /** The actor's own learning rate (default: lr); lower keeps the residual from chasing the critic's noise. */
  actor_lr?: number;
  batch_size: number;
  /** Critic updates per actor update: the update-to-data ratio when one update call is made per transition. */
  utd: number;
  init_temperature: number;
  /** Default -action_dim / 2 (RLPD). */
  target_entropy: number;
  /** Initial scale of the actor's last layer: the residual starts out near zero. */
  actor_last_scale: number;
  /** The actor's initial exploration: log std of the pre-tanh Gaussian (small: the base must keep working). */
  init_log_std: number;
  /** Weight of mean(pre-tanh mean^2) in the actor's loss: a residual stays small unless Q clearly asks. */
  residual_penalty: number;
  /** Critic-only updates before the actor starts to move (the critic first learns what the residual did). */
  actor_delay_updates: number;
  /**
   * Weight of the operator's decisions in the actor's loss: mean squared distance between tanh(mean) and the u
   * the operator chose, on a minibatch of its takeovers (ConRFT and HG-DAgger learn from interventions this way;
   * the Q term alone, as in op-1, did not carry the operator's corrections into the actor). 0: pure SAC.
   */
  bc_weight: number;
  seed: number;
}

export const DEFAULT_SAC: Omit<SacConfig, 'obs_dim' | 'action_dim' | 'target_entropy'> = {
  hidden: [256, 256],
  critics: 2,
  critic_subset: 2,
  gamma: 0.99,
  tau: 0.005,
  lr: 3e-4,
  batch_size: 256,
  utd: 2,
  init_temperature: 0.1,
  actor_last_scale: 0.01,
  init_log_std: -3,
  residual_penalty: 0,
  actor_delay_updates: 0,
  bc_weight: 0,
  seed: 0,
};

export interface UpdateMetrics {
  critic_loss: number;
  q_mean: number;
  actor_loss: number;
  /** -E[log pi]: the policy's entropy estimate. */
  entropy: number;
  temperature: number;
  critic_grad_norm: number;
  actor_grad_norm: number;
  /** The imitation term on the operator's decisions (NaN when there were none to sample). */
  bc_loss: number;
}

export { LOG_STD_MAX, LOG_STD_MIN };

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

export class SacLearner {
  readonly actor: Mlp;
  readonly critics: Mlp[];
  readonly targets: Mlp[];
  readonly logAlpha: TF.Variable;
  readonly actorOpt: Adam;
  readonly criticOpt: Adam;
  readonly alphaOpt: Adam;
  /** Minibatches, the actor's noise and the target pair: the learner's own stream. */
  readonly rng: Rng;
  updates = 0;
  /**
   * Actions are bound * tanh(...): a trust region that grows as the critic learns more of the action space
   * (progressive exploration, as Policy Decorator does). Set by the fine-tuner from the round; 1 = no limit.
   */
  actionBound = 1;
  private readonly batch: TransitionBatch;
  private readonly demoBatch: TransitionBatch;

  constructor(
    private readonly tf: typeof TF,
    readonly config: SacConfig,
  ) {
    const c = config;
    const init = new Rng(c.seed);
    const q = { input: c.obs_dim + c.action_dim, hidden: c.critic_hidden ?? c.hidden, output: 1, layer_norm: true };
    this.actor = new Mlp(
      tf,
      {
        input: c.obs_dim,
        hidden: c.hidden,
        output: 2 * c.action_dim,
        layer_norm: false,
        last_scale: c.actor_last_scale,
      },
      init,
    );
    this.critics = Array.from({ length: c.critics }, () => new Mlp(tf, q, init));
    this.targets = this.critics.map((critic) => {
      const t = new Mlp(tf, q, init);
      t.blendFrom(critic, 1);
      return t;
    });
    this.setInitialLogStd(c.init_log_std);
    this.logAlpha = tf.variable(tf.scalar(Math.log(c.init_temperature)));
    this.actorOpt = new Adam(tf, this.actor.params, c.actor_lr ?? c.lr);
    this.criticOpt = new Adam(
      tf,
      this.critics.flatMap((q) => q.params),
      c.lr,
    );
    this.alphaOpt = new Adam(tf, [this.logAlpha], c.lr);
    this.rng = init.fork(1);
    this.batch = newBatch(c.batch_size, c.obs_dim, c.action_dim);
    this.demoBatch = newBatch(Math.max(1, c.batch_size >> 1), c.obs_dim, c.action_dim);
  }

  /** The log-std half of the actor's last bias, so the squashed log std starts at `log_std`. */
  private setInitialLogStd(log_std: number): void {
    const A = this.config.action_dim;
    const x = (log_std - LOG_STD_MIN) / (0.5 * (LOG_STD_MAX - LOG_STD_MIN)) - 1;
    if (!(x > -1 && x < 1))
      throw new Error(`init_log_std must lie in (${LOG_STD_MIN}, ${LOG_STD_MAX}), got ${log_std}`);
    const bias = this.actor.params[this.actor.params.length - 1];
    const values = Float32Array.from(bias.dataSync() as Float32Array);
    values.fill(Math.atanh(x), A);
    this.tf.tidy(() => bias.assign(this.tf.tensor1d(values)));
  }

  get temperature(): number {
    return Math.exp(this.logAlpha.dataSync()[0]);
  }

  /**
   * `utd` critic updates on fresh minibatches (half online, half offline), then one actor and temperature update;
   * with `demos` (the operator's decisions) and a bc_weight, the actor also imitates half a batch of them.
   */
  update(online: ReplayBuffer, offline?: ReplayBuffer, demos?: ReplayBuffer): UpdateMetrics {
    let critic = { loss: 0, q_mean: 0, grad_norm: 0 };
    for (let i = 0; i < this.config.utd; i++) {
      critic = this.criticStep(sampleMixed(this.batch, online, offline, this.rng));
      for (let k = 0; k < this.critics.length; k++) this.targets[k].blendFrom(this.critics[k], this.config.tau);
    }
    const actor =
      this.updates >= this.config.actor_delay_updates
        ? this.actorStep(this.batch, this.demosFrom(demos))
        : { loss: 0, entropy: Number.NaN, grad_norm: 0, bc_loss: Number.NaN };
    this.updates++;
    return {
      critic_loss: critic.loss,
      q_mean: critic.q_mean,
      actor_loss: actor.loss,
      entropy: actor.entropy,
      temperature: this.temperature,
      critic_grad_norm: critic.grad_norm,
      actor_grad_norm: actor.grad_norm,
      bc_loss: actor.bc_loss,
    };
  }

  /** Half a batch of the operator's decisions for the actor to imitate, when there are some and a bc_weight. */
  private demosFrom(demos: ReplayBuffer | undefined): TransitionBatch | undefined {
    if (!(this.config.bc_weight > 0 && demos && demos.size > 0)) return undefined;
    demos.sampleInto(this.demoBatch, 0, this.demoBatch.size, this.rng);
    return this.demoBatch;
  }

  /** An optimiser of the actor's parameters apart from the rounds' (the warm start's own: warm-start.ts). */
  actorOptimizer(lr: number): Adam {
    return new Adam(this.tf, this.actor.params, lr);
  }

  /** One step of imitation alone on a batch of the operator's decisions (the warm start); returns its loss. */
  imitationStep(b: TransitionBatch, opt: Adam): number {
    const tf = this.tf;
    return tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => this.imitationLoss(b), this.actor.params);
      opt.apply(this.actor.params.map((p) => grads[p.name]));
      return value.dataSync()[0];
    });
  }

  /**
   * Actions in [-1, 1] for `n` observations (row-major): sampled with noise from `explore` (an actor's own Rng,
   * never the learner's), or tanh(mean) without it, as evaluation does.
   */
  act(obs: Float32Array, n: number, explore?: Rng): Float32Array {
    const tf = this.tf;
    const A = this.config.action_dim;
    const noise = explore ? normals(explore, n * A) : undefined;
    return tf.tidy(() => {
      const { mean, logStd } = this.heads(tf.tensor2d(obs, [n, this.config.obs_dim]));
      const pre = noise ? tf.add(mean, tf.mul(tf.exp(logStd), tf.tensor2d(noise, [n, A]))) : mean;
      return Float32Array.from(tf.mul(tf.tanh(pre), this.actionBound).dataSync() as Float32Array);
    });
  }

  private heads(obs: TF.Tensor2D): { mean: TF.Tensor2D; logStd: TF.Tensor2D } {
    const tf = this.tf;
    const A = this.config.action_dim;
    const out = this.actor.apply(obs);
    const mean = tf.slice(out, [0, 0], [-1, A]) as TF.Tensor2D;
    const raw = tf.slice(out, [0, A], [-1, A]);
    // a smooth squash of log std into [min, max] keeps gradients alive at the bounds (a clip would stop them)
    const logStd = tf.add(LOG_STD_MIN, tf.mul(0.5 * (LOG_STD_MAX - LOG_STD_MIN), tf.add(tf.tanh(raw), 1)));
    return { mean, logStd: logStd as TF.Tensor2D };
  }

  /** A reparameterised sample and its log-probability (with the tanh change of variables). */
  private sample(obs: TF.Tensor2D, noise: Float32Array): { action: TF.Tensor2D; logp: TF.Tensor1D; mean: TF.Tensor2D } {
    const tf = this.tf;
    const { mean, logStd } = this.heads(obs);
    const eps = tf.tensor2d(noise, mean.shape);
    const pre = tf.add(mean, tf.mul(tf.exp(logStd), eps));
    const action = tf.mul(tf.tanh(pre), this.actionBound) as TF.Tensor2D;
    const gauss = tf.sub(tf.sub(tf.mul(tf.square(eps), -0.5), logStd), HALF_LOG_2PI);
    // log(1 - tanh(x)^2) = 2 (log 2 - x - softplus(-2x)), stable for large |x|
    const squash = tf.mul(tf.sub(tf.sub(Math.log(2), pre), tf.softplus(tf.mul(pre, -2))), 2);
    // the bound's scaling shifts log p by -A log(bound): a constant for the gradients, kept for honest entropy
    const logp = tf.sub(tf.sum(tf.sub(gauss, squash), 1), mean.shape[1] * Math.log(this.actionBound));
    return { action, logp: logp as TF.Tensor1D, mean };
  }

  private q(critic: Mlp, obs: TF.Tensor2D, action: TF.Tensor2D): TF.Tensor1D {
    return this.tf.reshape(critic.apply(this.tf.concat([obs, action], 1) as TF.Tensor2D), [-1]) as TF.Tensor1D;
  }

  private criticStep(b: TransitionBatch): { loss: number; q_mean: number; grad_norm: number } {
    const tf = this.tf;
    const c = this.config;
    const n = b.size;
    const pair = this.targetPair();
    const noise = this.noise(n * c.action_dim);
    return tf.tidy(() => {
      const obs = tf.tensor2d(b.obs, [n, c.obs_dim]);
      const next = tf.tensor2d(b.next_obs, [n, c.obs_dim]);
      const act = tf.tensor2d(b.action, [n, c.action_dim]);
      const alpha = tf.exp(this.logAlpha);
      const { action: a2, logp } = this.sample(next, noise);
      const qNext = tf.min(tf.stack(pair.map((k) => this.q(this.targets[k], next, a2))), 0);
      const notDone = tf.sub(1, tf.tensor1d(b.terminal));
      const y = tf.add(tf.tensor1d(b.reward), tf.mul(tf.mul(notDone, c.gamma), tf.sub(qNext, tf.mul(alpha, logp))));
      // y is built outside variableGrads: a constant for the critics' gradient (no gradient through the target)
      const target = y;
      const params = this.critics.flatMap((q) => q.params);
      let qSum: TF.Tensor | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const qs = this.critics.map((q) => this.q(q, obs, act));
        qSum = tf.keep(tf.mean(tf.stack(qs)));
        return tf.mean(tf.stack(qs.map((qi) => tf.mean(tf.square(tf.sub(qi, target)))))) as TF.Scalar;
      }, params);
      const g = params.map((p) => grads[p.name]);
      this.criticOpt.apply(g);
      const out = { loss: value.dataSync()[0], q_mean: qSum!.dataSync()[0], grad_norm: globalNorm(tf, g) };
      qSum!.dispose();
      return out;
    });
  }

  private actorStep(
    b: TransitionBatch,
    demos?: TransitionBatch,
  ): { loss: number; entropy: number; grad_norm: number; bc_loss: number } {
    const tf = this.tf;
    const c = this.config;
    const n = b.size;
    const noise = this.noise(n * c.action_dim);
    return tf.tidy(() => {
      const obs = tf.tensor2d(b.obs, [n, c.obs_dim]);
      const alpha = tf.exp(this.logAlpha);
      let logpKept: TF.Tensor | undefined;
      let bcKept: TF.Tensor | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const { action, logp, mean } = this.sample(obs, noise);
        logpKept = tf.keep(logp);
        // the ensemble's mean Q for the actor (RLPD); the minimum is for the TD target only
        const q = tf.mean(tf.stack(this.critics.map((critic) => this.q(critic, obs, action))), 0);
        let loss = tf.mean(tf.sub(tf.mul(alpha, logp), q));
        if (c.residual_penalty > 0) loss = tf.add(loss, tf.mul(c.residual_penalty, tf.mean(tf.square(mean))));
        if (demos) {
          bcKept = tf.keep(this.imitationLoss(demos));
          loss = tf.add(loss, tf.mul(c.bc_weight, bcKept));
        }
        return loss as TF.Scalar;
      }, this.actor.params);
      const g = this.actor.params.map((p) => grads[p.name]);
      this.actorOpt.apply(g);
      const logp = logpKept!; // depends on the actor only: a constant for the temperature's gradient
      const alphaGrads = tf.variableGrads(
        () => tf.mean(tf.mul(tf.neg(this.logAlpha), tf.add(logp, c.target_entropy))) as TF.Scalar,
        [this.logAlpha],
      );
      this.alphaOpt.apply([alphaGrads.grads[this.logAlpha.name]]);
      const out = {
        loss: value.dataSync()[0],
        entropy: -tf.mean(logp).dataSync()[0],
        grad_norm: globalNorm(tf, g),
        bc_loss: bcKept ? bcKept.dataSync()[0] : Number.NaN,
      };
      logpKept!.dispose();
      bcKept?.dispose();
      return out;
    });
  }

  /**
   * Mean over the batch of the squared distance between the deterministic action tanh(mean) and the operator's u,
   * summed over joints. In the unbounded space: the trust region limits what runs, not what is learned. A u at
   * the edge is aimed just inside it, so a saturated takeover does not drive the mean to infinity.
   */
  private imitationLoss(d: TransitionBatch): TF.Scalar {
    const tf = this.tf;
    const { obs_dim: O, action_dim: A } = this.config;
    const { mean } = this.heads(tf.tensor2d(d.obs, [d.size, O]));
    const target = tf.clipByValue(tf.tensor2d(d.action, [d.size, A]), -0.97, 0.97);
    return tf.mean(tf.sum(tf.square(tf.sub(tf.tanh(mean), target)), 1)) as TF.Scalar;
  }

  /** Which target critics make this update's TD target: a fresh random subset when the ensemble is larger. */
  private targetPair(): number[] {
    const all = this.critics.map((_, i) => i);
    for (let i = all.length - 1; i > 0; i--) {
      const j = Math.floor(this.rng.next() * (i + 1));
      [all[i], all[j]] = [all[j], all[i]];
    }
    return all.slice(0, Math.min(this.config.critic_subset, all.length));
  }

  private noise(count: number): Float32Array {
    return normals(this.rng, count);
  }

  dispose(): void {
    for (const net of [this.actor, ...this.critics, ...this.targets]) net.dispose();
    for (const opt of [this.actorOpt, this.criticOpt, this.alphaOpt]) opt.dispose();
    this.logAlpha.dispose();
  }
}

function normals(rng: Rng, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = rng.normal();
  return out;
}
