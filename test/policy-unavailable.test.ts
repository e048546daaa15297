// A policy that cannot be reached for a while (a remote server restarting) is a fault like a driver's:
// the robot holds on what is buffered, the engine asks again with fresh observations, and the episode
// goes on once it answers; only an outage longer than the fault timeout ends the run, naming it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimDriver } from '../sim/sim-driver.js';
import { type ActionChunk, type Observation, PolicyUnavailable } from '../src/policy/policy.js';
import { TickStampPolicy } from '../src/policy/tick-stamp.js';
import { startVirtual } from '../src/runtime/runtime.js';
import { directWorld } from '../src/world/sim-world.js';

/** Tick-stamp actions, but calls made while `down(obs.tick)` reject as a server that is away would. */
class Flaky extends TickStampPolicy {
  unavailable = 0;
  constructor(
    d: ConstructorParameters<typeof TickStampPolicy>[0],
    private readonly down: (tick: number) => boolean,
  ) {
    super(d);
  }
  override async infer(obs: Observation): Promise<ActionChunk> {
    if (this.down(obs.tick)) {
      this.unavailable++;
      throw new PolicyUnavailable('policy server at tcp://127.0.0.1:1 does not answer');
    }
    return super.infer(obs);
  }
}

async function run(down: (tick: number) => boolean, fault_timeout_ms: number) {
  const driver = await SimDriver.create({ robot: 'ur5e', task: 'pick-place', time: 'virtual' });
  const policy = new Flaky(driver.description, down);
  const engine = startVirtual(driver, policy, directWorld(driver), {
    blend: 'replace',
    margin_ticks: 2,
    injected: { base_ms: 0, jitter_ms: 0 },
    seed: 0,
    latency_model: { kind: 'fixed', ms: 40 },
    fault_timeout_ms,
  });
  const r = await engine.runEpisode({ seed: 0, max_ticks: 300 });
  const report = await engine.stop();
  return { r, report, policy };
}

test('an outage shorter than the fault timeout: held, asked again, the episode goes on to its end', async () => {
  const { r, report, policy } = await run((k) => k >= 50 && k < 100, 5000);
  assert.equal(r.fault, undefined);
  assert.equal(r.ticks, 300);
  assert.ok(policy.unavailable > 0);
  assert.equal(report.unavailable_calls, policy.unavailable);
  assert.ok(report.control.underruns > 0, 'the buffer ran out while the server was away');
});

test('an outage longer than the fault timeout ends the episode with a fault naming it', async () => {
  const { r } = await run((k) => k >= 50, 1000);
  assert.match(r.fault ?? '', /the policy could not be reached for \d+\.\d s: policy server at tcp/);
  assert.ok(r.ticks < 300);
});

test('a server that refuses the warm-up call: asked again before any tick passes, then the policy drives', async () => {
  let calls = 0;
  const { r, report, policy } = await run(() => calls++ === 0, 5000);
  assert.equal(r.fault, undefined);
  assert.equal(policy.unavailable, 1);
  assert.equal(report.unavailable_calls, 1);
  assert.ok(calls > 5, `the policy was asked ${calls} times: the episode ran on it, not past it`);
});
