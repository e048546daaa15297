// The episode engine on both clocks: latency absorbed by the buffer, stale prefixes dropped, bad chunks
// and crashed workers held, repeatable virtual-clock runs, and the honest stale-action check.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { ExpertPolicy } from '../sim/experts/expert-policy.js';
import { robotModel } from '../sim/robots/index.js';
import { SimDriver } from '../sim/sim-driver.js';
import { writeTestPolicy } from '../src/policy/onnx/model-writer.js';
import { OnnxPolicy } from '../src/policy/onnx/onnx-policy.js';
import type { Policy } from '../src/policy/policy.js';
import { StaleActionCheck, TickStampPolicy } from '../src/policy/tick-stamp.js';
import { loadRobot } from '../src/robot/index.js';
import { ActionBuffer } from '../src/runtime/action-buffer.js';
import { type EpisodeEngine, startRealtime, startVirtual } from '../src/runtime/runtime.js';
import type { LatencyModelSpec } from '../src/runtime/timing/latency-model.js';
import { directWorld, snapshotWorld } from '../src/world/sim-world.js';

const NO_INJECTION = { base_ms: 0, jitter_ms: 0 };

async function virtualEngine(
  policyFor: (d: SimDriver) => Policy | Promise<Policy>,
  injected_ms = 0,
  latency_model: LatencyModelSpec = { kind: 'fixed', ms: 0 },
) {
  const driver = await SimDriver.create({ robot: 'ur5e', task: 'pick-place', time: 'virtual' });
  const policy = await policyFor(driver);
  const engine = startVirtual(driver, policy, directWorld(driver), {
    blend: 'replace',
    margin_ticks: 2,
    injected: { base_ms: injected_ms, jitter_ms: 0 },
    seed: 0,
    latency_model,
  });
  return { driver, policy, engine };
}

const expert = (d: SimDriver) => new ExpertPolicy(robotModel('ur5e'), d.description, 'pick-place');

async function expertRun(latency_ms: number, episodes: number) {
  const { engine } = await virtualEngine(expert, latency_ms);
  let successes = 0;
  for (let s = 0; s < episodes; s++) if ((await engine.runEpisode({ seed: s })).success) successes++;
  return { rate: successes / episodes, report: await engine.stop() };
}

test('300 ms of injected latency: 0 underruns, success within 5 points of no latency', async () => {
  const base = await expertRun(0, 6);
  const slow = await expertRun(300, 6);
  assert.equal(slow.report.control.underruns, 0);
  assert.ok(Math.abs(slow.rate - base.rate) <= 0.05, `success ${slow.rate} vs ${base.rate} without latency`);
  assert.ok(slow.report.latency.summary().p50 >= 300, 'the latency was not applied');
  assert.ok(slow.report.buffer.chunks > 6 * 5);
});

test('450 ms of injected latency: still 0 underruns', async () => {
  const r = await expertRun(450, 3);
  assert.equal(r.report.control.underruns, 0);
});

test('a model with a fixed offset drops the stale prefix of every chunk by its arrival tick', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-rt-'));
  try {
    const model = join(dir, 'm.onnx');
    await writeTestPolicy(model, {
      name: 'fixed',
      cameras: [{ name: 'top', width: 32, height: 32 }],
      state_dim: 7,
      horizon: 25,
      action_dim: 7,
      mode: 'net',
      seed: 1,
    });
    const { engine, policy } = await virtualEngine(() => OnnxPolicy.load(model), 100);
    await engine.runEpisode({ seed: 0, max_ticks: 120 });
    const r = await engine.stop();
    await policy.close();
    // 100 ms = 5 ticks: each chunk loses at least its first 5 actions
    assert.ok(
      r.buffer.dropped_prefix_actions >= 5 * r.buffer.chunks,
      `${r.buffer.dropped_prefix_actions} dropped over ${r.buffer.chunks} chunks`,
    );
    assert.equal(r.control.ticks, 120);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a NaN chunk is rejected whole and the robot holds where it is', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-rt-'));
  try {
    const model = join(dir, 'nan.onnx');
    await writeTestPolicy(model, {
      name: 'nan',
      cameras: [],
      state_dim: 7,
      horizon: 25,
      action_dim: 7,
      mode: 'nan',
      seed: 1,
    });
    const { engine, policy, driver } = await virtualEngine(() => OnnxPolicy.load(model));
    const before = Float64Array.from(driver.env.readState(driver.env.newState()).position_rad);
    const out = await engine.runEpisode({ seed: 0 });
    assert.match(out.fault ?? '', /rejected a chunk from the policy: .*NaN/);
    const after = driver.env.readState(driver.env.newState()).position_rad;
    for (let j = 0; j < 6; j++) assert.ok(Math.abs(after[j] - before[j]) < 1e-3, `joint ${j} moved`);
    const r = await engine.stop();
    await policy.close();
    assert.equal(r.safety.rejected_chunks, 1);
    assert.equal(r.safety.holds, 1);
    assert.equal(r.buffer.chunks, 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a killed inference worker ends the episode in a hold with a clear error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vla-rt-'));
  try {
    const model = join(dir, 'm.onnx');
    await writeTestPolicy(model, {
      name: 'net',
      cameras: [],
      state_dim: 7,
      horizon: 25,
      action_dim: 7,
      mode: 'constant',
      constant: new Array(25 * 7).fill(0),
      seed: 1,
    });
    const onnx = await OnnxPolicy.load(model);
    const { engine } = await virtualEngine(() => onnx);
    let killed = false;
    const out = await engine.runEpisode({
      seed: 0,
      recorder: {
        tick: (_s, _c, k) => {
          if (k === 30 && !killed) {
            killed = true;
            onnx.crashWorkerForTest('exit');
          }
        },
      },
    });
    const r = await engine.stop();
    await onnx.close();
    assert.ok(killed);
    assert.match(out.fault ?? '', /inference failed/);
    assert.equal(r.safety.holds, 1);
    assert.ok(out.ticks >= 30 && out.ticks < 60, `ran ${out.ticks} ticks after the crash`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** Everything a virtual-clock evaluation decides: outcomes, buffer counts and every executed command. */
async function fingerprint(): Promise<{ outcomes: string; buffer: string; commands: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'vla-rt-'));
  try {
    const model = join(dir, 'm.onnx');
    await writeTestPolicy(model, {
      name: 'net',
      cameras: [{ name: 'top', width: 32, height: 32 }],
      state_dim: 7,
      horizon: 25,
      action_dim: 7,
      mode: 'net',
      seed: 2,
    });
    const { engine, policy } = await virtualEngine(() => OnnxPolicy.load(model), 0, { kind: 'fixed', ms: 60 });
    const hash = createHash('sha256');
    const outcomes = [];
    for (let seed = 0; seed < 2; seed++) {
      outcomes.push(
        await engine.runEpisode({
          seed,
          max_ticks: 150,
          recorder: {
            tick: (_s, c, k) => {
              hash.update(`${k}:${Array.from(c).join(',')};`);
            },
          },
        }),
      );
    }
    const r = await engine.stop();
    await policy.close();
    return { outcomes: JSON.stringify(outcomes), buffer: JSON.stringify(r.buffer), commands: hash.digest('hex') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('the virtual clock repeats a run exactly, whatever else loads the CPU', async () => {
  const idle = await fingerprint();
  // both cores busy: wall time per inference grows, the charged latency does not
  const burn = 'const end = Date.now() + 60000; while (Date.now() < end) {}';
  const burners = [0, 1].map(() => new Worker(burn, { eval: true }));
  try {
    const loaded = await fingerprint();
    assert.deepEqual(loaded, idle);
  } finally {
    await Promise.all(burners.map((w) => w.terminate()));
  }
  assert.match(
    idle.buffer,
    /"dropped_prefix_actions":[1-9]/,
    'the latency model was charged (60 ms = 3 ticks dropped per chunk)',
  );
});

test(
  "the stale-action check reads every executed action's tick back, and catches a buffer that is one tick " + 'off',
  async () => {
    const run = async () => {
      const { engine, driver } = await virtualEngine((d) => new TickStampPolicy(d.description), 0, {
        kind: 'fixed',
        ms: 90,
      });
      const check = new StaleActionCheck(driver.description);
      await engine.runEpisode({ seed: 0, max_ticks: 200, recorder: check });
      await engine.stop();
      return check;
    };
    const honest = await run();
    assert.ok(honest.checked > 150, `${honest.checked} buffered actions checked`);
    assert.equal(honest.stale, 0);
    // plant an off-by-one: the buffer stores every action one tick after the one it was predicted for
    const insert = ActionBuffer.prototype.insert;
    ActionBuffer.prototype.insert = function (chunk, k_now) {
      return insert.call(this, { ...chunk, first_tick: chunk.first_tick + 1 }, k_now);
    };
    try {
      const planted = await run();
      assert.ok(planted.stale > 0.9 * planted.checked, `${planted.stale} of ${planted.checked} caught`);
    } finally {
      ActionBuffer.prototype.insert = insert;
    }
  },
);

test(
  'real clock: the control thread runs the episode; every tick ' +
    'reaches the engine once, in order, none executed stale',
  async () => {
    const desc = await loadRobot('ur5');
    const policy = new TickStampPolicy(desc);
    const engine: EpisodeEngine = await startRealtime(
      { kind: 'sim', robot: 'ur5', task: 'pick-place' },
      desc,
      policy,
      () => snapshotWorld({ robot: 'ur5', task: 'pick-place' }, false),
      { blend: 'replace', margin_ticks: 2, injected: NO_INJECTION, seed: 0 },
    );
    const ticks: number[] = [];
    const check = new StaleActionCheck(desc);
    const out = await engine.runEpisode({
      seed: 0,
      max_ticks: 60,
      recorder: {
        tick: (s, c, k, src) => {
          ticks.push(k);
          check.tick(s, c, k, src);
        },
      },
    });
    const r = await engine.stop();
    assert.equal(out.ticks, 60);
    assert.ok(r.buffer.chunks >= 2);
    assert.ok(r.jitter_ms.length >= 60);
    assert.deepEqual(
      ticks,
      Array.from({ length: 60 }, (_, i) => i),
    );
    assert.ok(check.checked > 30, `${check.checked} buffered actions checked`);
    assert.equal(check.stale, 0);
  },
);

/** A policy that serves one request at a time, as the ONNX worker does, and takes `ms` per request. */
class OneAtATime extends TickStampPolicy {
  busy = false;
  requests = 0;
  constructor(
    desc: ConstructorParameters<typeof TickStampPolicy>[0],
    private readonly ms: number,
  ) {
    super(desc);
  }
  override async infer(obs: Parameters<TickStampPolicy['infer']>[0]) {
    if (this.busy) throw new Error('infer() called while a request is in flight');
    this.busy = true;
    this.requests++;
    await new Promise((r) => setTimeout(r, this.ms));
    this.busy = false;
    return super.infer(obs);
  }
}

test('real clock: an episode that ends with a request in flight does not make the next one ask twice', async () => {
  const desc = await loadRobot('ur5');
  // 150 ms per request, 5-tick (100 ms) episodes: every episode ends while its first request is still out
  const policy = new OneAtATime(desc, 150);
  const engine = await startRealtime(
    { kind: 'sim', robot: 'ur5', task: 'pick-place' },
    desc,
    policy,
    () => snapshotWorld({ robot: 'ur5', task: 'pick-place' }, false),
    { blend: 'replace', margin_ticks: 2, injected: NO_INJECTION, seed: 0 },
  );
  const outcomes = [];
  for (let seed = 0; seed < 5; seed++) outcomes.push(await engine.runEpisode({ seed, max_ticks: 5 }));
  await engine.stop();
  assert.deepEqual(
    outcomes.map((o) => o.fault ?? 'ok'),
    Array(5).fill('ok'),
  );
  // asking twice would throw in infer() (a fault above). Requests keep coming across episodes, but not one per
  // episode for sure: an episode that starts while the last one's request is out may end before it can ask its own
  // (a loaded machine has given 4 for 5 episodes)
  assert.ok(policy.requests >= 3, `${policy.requests} requests`);
});

test('real clock: the control thread collects its garbage in full between episodes, counted apart', async () => {
  const desc = await loadRobot('ur5');
  const engine = await startRealtime(
    { kind: 'sim', robot: 'ur5', task: 'pick-place' },
    desc,
    new TickStampPolicy(desc),
    () => snapshotWorld({ robot: 'ur5', task: 'pick-place' }, false),
    { blend: 'replace', margin_ticks: 2, injected: NO_INJECTION, seed: 0 },
  );
  for (let seed = 0; seed < 4; seed++) await engine.runEpisode({ seed, max_ticks: 10 });
  const gc = (await engine.stop()).control_gc;
  assert.ok(gc, 'the control thread reports its collections');
  assert.equal(gc.between_episodes, 4, 'one after each episode');
  assert.ok(gc.between_episodes_max_ms > 0 && gc.between_episodes_max_ms < 1000, `${gc.between_episodes_max_ms} ms`);
  // a full collection shows as a major one to the GC observer: the loop's own are not counted as V8's
  assert.ok(gc.other < gc.between_episodes, `${gc.other} other collections`);
});
