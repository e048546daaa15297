// The fine-tuner's actor as the real-time control thread runs it (src/rl/robot/control-actor.ts), through its
// MessagePort as the robot actor's main thread drives it: the scripted operator's takeover changes the very tick
// that decided it, decisions come back with their interventions, a task state from another episode is ignored,
// and weights change only when the actor is armed. The robot's recordings keep every decision.
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { after, test } from 'node:test';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { McapIndexedReader } from '@mcap/core';
import { createExpert } from '../sim/experts/index.js';
import { SimEnv } from '../sim/sim-env.js';
import { residualManifestFor } from '../src/policy/residual/residual-draft.js';
import { inputSize } from '../src/policy/residual/residual-manifest.js';
import { DECOMPRESS_HANDLERS } from '../src/recording/chunk-compression.js';
import { readEpisode } from '../src/recording/episode-reader.js';
import { EpisodeWriter } from '../src/recording/episode-writer.js';
import { FileReadable } from '../src/recording/file-io.js';
import { TOPIC_RL_DECISION } from '../src/recording/index.js';
import type { CollectedDecisions, FromControlActor, ToControlActor } from '../src/rl/robot/actor-channel.js';
import { createControlResidual } from '../src/rl/robot/control-actor.js';
import { KeyboardOperator } from '../src/rl/robot/keyboard-operator.js';
import { loadRobot } from '../src/robot/index.js';
import { META, tickRecord, tmp } from './fixtures/recording.js';

const env = await SimEnv.create({ robot: 'ur5e', task: 'pick-place' });
after(() => env.dispose());
const desc = await loadRobot('ur5e');
const manifest = await residualManifestFor(desc, {
  name: 't',
  base_path: 'models/ur5e-pick-place.onnx',
  base_horizon: 25,
  hidden: [8],
  every_ticks: 1,
});
const O = inputSize(manifest);
const A = desc.action_names.length;
const SIZES = [O, 8, 2 * A];
const SEED = 3;
const TAKEOVER_RAD = (3 * Math.PI) / 180;

env.reset(SEED);
const state = env.readState(env.newState());
const task = { ...env.taskState(), seed: SEED };
const expert = createExpert(env.robot, 'pick-place', env.control_hz, { noise: 0 });
expert.reset(SEED);
const plan = expert.chunk({ tick: 0, position_rad: state.position_rad, gripper: state.gripper, task }, 1, 1);

/** Zero weights but for the mean head's bias: u = tanh(bias) everywhere. */
function weights(bias: number): Float32Array[] {
  const b1 = new Float32Array(2 * A);
  b1.fill(bias, 0, A);
  b1.fill(-3, A); // a small exploration std
  return [new Float32Array(O * 8), new Float32Array(8), new Float32Array(8 * 2 * A), b1];
}

function actor(operator: boolean, m = manifest) {
  const { port1, port2 } = new MessageChannel();
  const init = {
    manifest: m,
    sizes: SIZES,
    max_decisions: 50,
    ...(operator
      ? {
          operator: {
            settings: { takeover_rad: TAKEOVER_RAD, takeover_decisions: 2 },
            robot: 'ur5e',
            task: 'pick-place',
          },
        }
      : {}),
  };
  const corrector = createControlResidual(desc, init, port2, 0);
  const ask = (m: ToControlActor, want: FromControlActor['type']) =>
    new Promise<FromControlActor>((resolve) => {
      const on = (r: FromControlActor) => {
        if (r.type !== want) return;
        port1.off('message', on);
        resolve(r);
      };
      port1.on('message', on);
      port1.postMessage(m);
    });
  return { corrector, port: port1 as MessagePort, ask, close: () => port1.close() };
}

/** The command of tick k for a base action `base` (a copy: correct() works in place). */
function command(corrector: ReturnType<typeof actor>['corrector'], k: number, base: Float64Array): Float64Array {
  const a = Float64Array.from(base);
  corrector.correct(k, state, a, 0);
  return a;
}

test('the operator takes over in the very tick it decides to, and the decision says so', async () => {
  const a = actor(true);
  try {
    await a.ask({ type: 'arm', seed: SEED, values: weights(0), bound: 1, explore_seed: 7 }, 'armed');
    a.port.postMessage({ type: 'task_state', state: task } satisfies ToControlActor);
    await new Promise((r) => setTimeout(r, 20)); // the state crosses the port as it does between ticks
    const astray = Float64Array.from(plan);
    astray[0] += 0.3; // 17 degrees off the plan on the shoulder
    const cmd = command(a.corrector, 1, astray);
    // the command moves back toward the plan by the full bound (3 degrees), in this tick
    assert.ok(Math.abs(cmd[0] - (astray[0] - TAKEOVER_RAD)) < 1e-9, `${cmd[0]} vs ${astray[0]}`);
    const d = (await a.ask({ type: 'collect' }, 'decisions')) as CollectedDecisions;
    assert.equal(d.steps, 1);
    assert.deepEqual(d.interventions, [0]);
    assert.equal(d.inputs.length, O);
    assert.ok(Math.abs(d.u[0] + 1) < 1e-6, `u[0] = ${d.u[0]}: the operator's correction, at the bound`);
  } finally {
    a.close();
  }
});

test("a person's takeover has the next tick, not the next decision; letting go hands u back", async () => {
  const every5 = { ...manifest, every_ticks: 5 };
  const a = actor(false, every5);
  const scale = every5.scale[1];
  const pushed = new Array(A).fill(0);
  pushed[1] = 1;
  const steer = async (u: number[] | null) => {
    a.port.postMessage({ type: 'steer', u } satisfies ToControlActor);
    await new Promise((r) => setTimeout(r, 20)); // it crosses the port between two ticks
  };
  try {
    await a.ask({ type: 'arm', seed: SEED, values: weights(0.5), bound: 1, explore_seed: 7 }, 'armed');
    a.corrector.reset();
    const base = Float64Array.from(plan);
    // the residual's own correction: tanh(0.5) of the bound, give or take its small exploration noise
    const own = (k: number) => (command(a.corrector, k, base)[1] - base[1]) / scale;
    assert.ok(Math.abs(own(0) - Math.tanh(0.5)) < 0.2);
    await steer(pushed);
    assert.ok(Math.abs(command(a.corrector, 1, base)[1] - (base[1] + scale)) < 1e-9, "tick 1 is the person's");
    assert.ok(Math.abs(command(a.corrector, 3, base)[1] - (base[1] + scale)) < 1e-9, 'and held till they change it');
    await steer(null);
    assert.ok(Math.abs(own(4) - Math.tanh(0.5)) < 0.2, 'let go: the residual again');
    const d = (await a.ask({ type: 'collect' }, 'decisions')) as CollectedDecisions;
    assert.deepEqual(Array.from(d.ticks), [0, 1, 4], 'each change re-decides at once');
    assert.deepEqual(d.interventions, [1], 'the decision the person made is an intervention');
    assert.equal(d.u[1 * A + 1], 1);

    // an evaluation (no exploration) measures the residual alone: a takeover is not taken
    await a.ask({ type: 'arm', seed: SEED, values: weights(0.5), bound: 1, explore_seed: null }, 'armed');
    a.corrector.reset();
    await steer(pushed);
    assert.ok(Math.abs(own(0) - Math.tanh(0.5)) < 1e-6);
    const e = (await a.ask({ type: 'collect' }, 'decisions')) as CollectedDecisions;
    assert.deepEqual(e.interventions, []);
  } finally {
    a.close();
  }
});

test('a task state of another episode is not planned from, and an evaluation has no operator', async () => {
  const a = actor(true);
  try {
    await a.ask({ type: 'arm', seed: SEED + 1, values: weights(0), bound: 1, explore_seed: 7 }, 'armed');
    a.port.postMessage({ type: 'task_state', state: task } satisfies ToControlActor); // seed 3's, not 4's
    await new Promise((r) => setTimeout(r, 20));
    const astray = Float64Array.from(plan);
    astray[0] += 0.3;
    command(a.corrector, 1, astray);
    const stale = (await a.ask({ type: 'collect' }, 'decisions')) as CollectedDecisions;
    assert.deepEqual(stale.interventions, [], "no takeover planned from the last episode's scene");
    await a.ask({ type: 'arm', seed: SEED, values: weights(0), bound: 1, explore_seed: null }, 'armed');
    a.port.postMessage({ type: 'task_state', state: task } satisfies ToControlActor);
    await new Promise((r) => setTimeout(r, 20));
    a.corrector.reset(); // the episode's start, as the control loop does it
    const cmd = command(a.corrector, 1, astray);
    assert.ok(Math.abs(cmd[0] - astray[0]) < 1e-6, 'deterministic zero residual, nobody took over');
    const d = (await a.ask({ type: 'collect' }, 'decisions')) as CollectedDecisions;
    assert.deepEqual(d.interventions, []);
  } finally {
    a.close();
  }
});

test('weights change when the actor is armed, and only then', async () => {
  const a = actor(false);
  try {
    const base = Float64Array.from(plan);
    await a.ask({ type: 'arm', seed: 0, values: weights(0.5), bound: 1, explore_seed: null }, 'armed');
    const first = command(a.corrector, 1, base)[0] - base[0];
    assert.ok(Math.abs(first - TAKEOVER_RAD * Math.tanh(0.5)) < 1e-6, `correction ${first}`);
    // half the trust region, other weights: the next episode's
    await a.ask({ type: 'arm', seed: 1, values: weights(-0.5), bound: 0.5, explore_seed: null }, 'armed');
    a.corrector.reset(); // the episode's start, as the control loop does it
    const second = command(a.corrector, 1, base)[0] - base[0];
    assert.ok(Math.abs(second + 0.5 * TAKEOVER_RAD * Math.tanh(0.5)) < 1e-6, `correction ${second}`);
    const d = (await a.ask({ type: 'collect' }, 'decisions')) as CollectedDecisions;
    assert.equal(d.steps, 1, 'arming starts a fresh log');
  } finally {
    a.close();
  }
});

test('recordings: an /rl/decision message per decision, stamped with its tick; ticks read as before', async () => {
  const path = tmp('decisions.mcap');
  const w = await EpisodeWriter.open(path, META, { rl_decisions: true });
  const recs = [0, 1, 2, 3, 4, 5].map((k) => tickRecord(k, false));
  for (const r of recs) await w.writeTick(r);
  const u = [0.5, -1, 0, 0, 0.25, 0.1];
  await w.writeDecision({
    tick: 0,
    base_action: recs[0].action,
    u,
    correction: u.map((x) => x * 0.05),
    takeover: false,
  });
  await w.writeDecision({ tick: 5, base_action: recs[5].action, u, correction: u, takeover: true, label: u });
  await w.close({ success: true });
  const fh = await open(path, 'r');
  try {
    const r = await McapIndexedReader.Initialize({
      readable: new FileReadable(fh, BigInt((await fh.stat()).size)),
      decompressHandlers: DECOMPRESS_HANDLERS,
    });
    const got: { logTime: bigint; json: Record<string, unknown> }[] = [];
    for await (const m of r.readMessages({ topics: [TOPIC_RL_DECISION] }))
      got.push({ logTime: m.logTime, json: JSON.parse(new TextDecoder().decode(m.data)) });
    assert.equal(got.length, 2);
    assert.deepEqual(
      got.map((g) => g.logTime),
      [recs[0].stamp_ns, recs[5].stamp_ns],
    );
    assert.deepEqual(got[1].json.name, META.action_names);
    assert.equal(got[1].json.takeover, true);
    assert.deepEqual(got[1].json.label, u);
    assert.equal(got[0].json.label, undefined);
    assert.ok(Math.abs((got[0].json.correction as number[])[0] - 0.025) < 1e-12);
  } finally {
    await fh.close();
  }
  assert.equal((await readEpisode(path)).ticks, 6, 'the episode reader is not put off by the extra topic');
});

test('the keyboard operator: Enter starts, the first judgement counts, q or a stop ends the wait', async () => {
  const listeners: ((k: string) => void)[] = [];
  const press = (k: string) => {
    for (const l of listeners) l(k);
  };
  const said: string[] = [];
  const op = new KeyboardOperator({ onKey: (l) => void listeners.push(l) }, (line) => said.push(line));
  const first = op.ready(7);
  press('s'); // not an episode yet: ignored
  press('\r');
  assert.equal(await first, true);
  assert.match(said[0], /seed 7.*press Enter/);
  const got: string[] = [];
  op.watch((j) => got.push(j));
  press('x');
  press('f');
  press('s'); // judged already
  assert.deepEqual(got, ['failure']);
  assert.equal(op.finish(), 'failure');
  const second = op.ready(8);
  press('Q');
  assert.equal(await second, false, 'q at the prompt stops the session');
  assert.equal(await op.ready(9), false, 'and it stays stopped');
  const other = new KeyboardOperator({ onKey: () => {} }, () => {});
  const waiting = other.ready(1);
  other.stop();
  assert.equal(await waiting, false, 'Ctrl-C ends a wait for Enter');
  const third = new KeyboardOperator({ onKey: (l) => void listeners.push(l) }, () => {});
  await Promise.all([third.ready(1), Promise.resolve().then(() => press('\n'))]);
  assert.equal(third.finish(), undefined, 'nobody judged it');
});

test('keyboard takeover: t, a joint, a push; t again, or the episode ending, hands the arm back', async () => {
  const listeners: ((k: string) => void)[] = [];
  const press = (...keys: string[]) => {
    for (const k of keys) for (const l of listeners) l(k);
  };
  const said: string[] = [];
  const op = new KeyboardOperator({ onKey: (l) => void listeners.push(l) }, (line) => said.push(line), {
    action_names: ['a', 'b', 'g'],
  });
  const steered: (number[] | 'leaders' | null)[] = [];
  const go = op.ready(1);
  press('t', '\n'); // no episode yet: t does nothing
  await go;
  op.watch(
    () => {},
    (u) => steered.push(u),
  );
  assert.match(said.at(-1)!, /t take over/);
  press('+', 't', ']', '+', '+', '+', '[', '-', '0', 't');
  assert.deepEqual(steered, [[0, 0, 0], [0, 0.5, 0], [0, 1, 0], [0, 1, 0], [-0.5, 1, 0], [0, 0, 0], null]);
  assert.ok(
    said.some((l) => /takeover: b /.test(l)),
    'the chosen joint is named',
  );
  press('t', '+');
  assert.deepEqual(steered.at(-1), [0.5, 0, 0], 'taken again: the last joint chosen, a fresh correction');
  assert.equal(op.finish(), undefined);
  press('+');
  assert.equal(steered.length, 9, 'after the episode: no more steering');
});

test('with leader arms the takeover key hands the followers to the leaders and back; no jog keys', async () => {
  const listeners: ((k: string) => void)[] = [];
  const press = (...keys: string[]) => {
    for (const k of keys) for (const l of listeners) l(k);
  };
  const said: string[] = [];
  const op = new KeyboardOperator({ onKey: (l) => void listeners.push(l) }, (line) => said.push(line), {
    action_names: ['a', 'b', 'g'],
    leaders: true,
  });
  const steered: (number[] | 'leaders' | null)[] = [];
  const go = op.ready(1);
  press('\n');
  await go;
  op.watch(
    () => {},
    (u) => steered.push(u),
  );
  press('t', '+', ']', '0', 't');
  assert.deepEqual(steered, ['leaders', null]);
  assert.ok(said.some((l) => /leader arms get the followers once each leader joint is within 9 deg/.test(l)));
  op.finish();
});
