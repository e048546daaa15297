// The control loop's fault handling, the same for every driver: a tick whose health is not ok holds (from
// the measured pose when that is fresh), the plan resumes only from a chunk planned after the fault,
// unless the stretch was a few missed reads, and a stretch too long or latched ends the episode.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Driver, Health, JointState } from '../drivers/driver.js';
import { SimDriver } from '../sim/sim-driver.js';
import type { ActionChunk } from '../src/policy/policy.js';
import { ActionBuffer } from '../src/runtime/action-buffer.js';
import { ActionRing } from '../src/runtime/action-ring.js';
import { ControlLoop } from '../src/runtime/control/control-loop.js';
import { FaultStretches } from '../src/runtime/control/fault-stretch.js';
import { TickBoard } from '../src/runtime/control/tick-board.js';

test(
  'fault stretches: a few missed reads go on with the plan; ' +
    'anything longer or else resumes; too long or latched ends',
  () => {
    const f = new FaultStretches(1000, 100);
    const why = () => 'left follower: no reply';
    assert.equal(f.enter('late', 0, why), undefined);
    assert.equal(f.enter('late', 20, why), undefined);
    assert.equal(f.leave(40), 'continue', 'two late reads, 40 ms: the servos never left their goal');
    f.enter('late', 100, why);
    assert.equal(f.leave(260), 'resume', 'late for longer than the stale limit');
    f.enter('late', 300, why);
    f.enter('io_error', 320, why);
    assert.equal(f.leave(340), 'resume', 'an I/O error is not a missed read');
    f.enter('stale', 400, why);
    assert.match(f.enter('stale', 1401, why) ?? '', /^driver stale for more than 1\.0 s: left follower: no reply$/);
    f.leave(1402);
    assert.match(
      f.enter('hardware_alert', 2000, () => 'ID 4 (elbow): overload') ?? '',
      /^driver hardware_alert: ID 4 \(elbow\): overload$/,
    );
    assert.equal(f.report.holds, 5);
    assert.deepEqual(f.report.holds_by_health, { late: 3, io_error: 1, stale: 1, hardware_alert: 1 });
  },
);

/** The embedded sim with a health the test sets (a link fault, or reads that stop), everything else real. */
class FaultySim implements Driver {
  health: Health = 'ok';
  /** While set, read() hands out the last state as it was, with its old stamp (no new measurement). */
  frozen = false;
  readonly written: (Float64Array | null)[] = [];
  private readonly last: JointState;

  constructor(readonly sim: SimDriver) {
    this.last = {
      t_mono_ms: 0,
      position_rad: new Float64Array(6),
      velocity_rad_s: new Float64Array(6),
      gripper: new Float64Array(1),
    };
  }

  get description() {
    return this.sim.description;
  }
  configure() {
    return this.sim.configure();
  }
  activate() {
    return this.sim.activate();
  }
  deactivate() {
    return this.sim.deactivate();
  }
  close() {
    return this.sim.close();
  }
  counters() {
    return {};
  }
  problem() {
    return `injected ${this.health}`;
  }
  read(into: JointState): Health {
    if (!this.frozen) this.sim.read(this.last);
    into.t_mono_ms = this.last.t_mono_ms;
    into.position_rad.set(this.last.position_rad);
    into.velocity_rad_s.set(this.last.velocity_rad_s);
    into.gripper.set(this.last.gripper);
    return this.health;
  }
  write(command: Float64Array | null): void {
    this.written.push(command && Float64Array.from(command));
    this.sim.write(command);
  }
}

async function setup(fault_timeout_ms = 10_000) {
  const sim = await SimDriver.create({ robot: 'ur5e', task: 'pick-place', time: 'virtual' });
  const d = new FaultySim(sim);
  const ring = ActionRing.create({ capacity: 256, dim: 7 }, false);
  const loop = new ControlLoop(d, ring, new TickBoard({ joints: 6, grippers: 1, dim: 7 }), undefined, {
    fault_timeout_ms,
    stale_state_ms: 100,
  });
  const buffer = new ActionBuffer(ring, { blend: 'replace' });
  loop.begin();
  const now = () => loop.tick * 20 + 20; // virtual time: tick k runs at k periods
  /** A chunk from the current tick holding the home pose with joint 0 offset by `q0`, gripper closed. */
  const chunk = (q0: number): ActionChunk => {
    const a = new Float32Array(25 * 7);
    for (let r = 0; r < 25; r++) {
      for (let j = 0; j < 6; j++) a[r * 7 + j] = sim.description.home_rad[j];
      a[r * 7] += q0;
      a[r * 7 + 6] = 0;
    }
    return { obs_tick: loop.tick, first_tick: loop.tick + 1, horizon: 25, dim: 7, actions: a, infer_ms: 0 };
  };
  return { sim, d, loop, buffer, now, chunk, close: () => sim.close() };
}

test('a link fault holds at the fresh measured pose; then the old plan is refused until a fresh chunk', async () => {
  const t = await setup();
  try {
    t.buffer.insert(t.chunk(0.02), t.loop.tick);
    for (let k = 0; k < 5; k++) t.loop.step(t.now());
    assert.equal(t.loop.ticker.source, 'buffer');
    t.d.health = 'program_stopped';
    t.loop.step(t.now());
    assert.equal(t.loop.ticker.source, 'fault');
    const hold = t.d.written.at(-1)!;
    assert.ok(hold, 'a fresh measurement: the hold commands it');
    assert.equal(hold[6], 0, 'the gripper keeps its (closed) command');
    t.d.health = 'ok';
    t.loop.step(t.now());
    assert.equal(t.loop.ticker.source, 'startup', 'the chunk planned before the fault is not executed');
    t.buffer.insert(t.chunk(0.03), t.loop.tick);
    t.loop.step(t.now());
    assert.equal(t.loop.ticker.source, 'buffer');
    assert.equal(t.loop.faults.report.holds, 1);
  } finally {
    await t.close();
  }
});

test(
  'no fresh measurement: nothing is written (the robot keeps its last goal); a short stretch of missed reads goes ' +
    'on with the plan',
  async () => {
    const t = await setup();
    try {
      t.buffer.insert(t.chunk(0.02), t.loop.tick);
      t.loop.step(t.now());
      t.d.frozen = true;
      t.d.health = 'late';
      for (let k = 0; k < 2; k++) t.loop.step(t.now());
      t.d.health = 'ok';
      t.d.frozen = false;
      t.loop.step(t.now());
      assert.equal(t.loop.ticker.source, 'buffer', 'two missed reads (40 ms): the plan goes on');
      // reads that stop for longer make the state stale: no command from it
      t.d.frozen = true;
      const written = t.d.written.length;
      for (let k = 0; k < 8; k++) t.loop.step(t.now());
      const during = t.d.written.slice(written);
      assert.ok(
        during.slice(-3).every((c) => c === null),
        'a stale state is never commanded',
      );
      assert.equal(t.loop.ticker.source, 'fault');
      t.d.frozen = false;
      t.loop.step(t.now());
      assert.equal(t.loop.ticker.source, 'startup', 'after a stale stretch: a fresh chunk first');
    } finally {
      await t.close();
    }
  },
);

test('a fault longer than the timeout ends the episode with the cause; a latched one at once', async () => {
  const t = await setup(200);
  try {
    t.d.health = 'disconnected';
    for (let k = 0; k < 20 && !t.loop.ending; k++) t.loop.step(t.now());
    assert.match(t.loop.ending?.fault ?? '', /^driver disconnected for more than 0\.2 s: injected disconnected$/);
    t.loop.begin();
    t.d.health = 'hardware_alert';
    t.loop.step(t.now());
    assert.match(t.loop.ending?.fault ?? '', /^driver hardware_alert: injected hardware_alert$/);
  } finally {
    await t.close();
  }
});
