// The UR driver against the simulated rosbridge endpoint, over a real WebSocket with the real roslib: the
// driver only reads and writes; what counts as stale is the runtime's freshness rule, checked here on
// the timestamps the driver hands out.

import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import {
  defaultRosSettings,
  type RosSettings,
  RosSettingsError,
  resolveRosSettings,
} from '../calibration/ros-settings.js';
import { DriverSetupError, type Health, type JointState, newJointState } from '../drivers/driver.js';
import { Topic } from '../drivers/ur/roslib.js';
import { UrDriver } from '../drivers/ur/ur-driver.js';
import { UR_HOME_RAD } from '../sim/robots/ur.js';
import { RosbridgeServer } from '../sim/rosbridge/rosbridge-server.js';
import { UrEndpoint, type UrEndpointOptions } from '../sim/rosbridge/ur-endpoint.js';
import { loadRobot } from '../src/robot/index.js';
import { FreshnessWatch } from '../src/runtime/control/freshness.js';
import { monotonicMs } from '../src/util/clock.js';

/** Short fault timings so that the tests do not wait for production back-offs. */
const SETTINGS: RosSettings = {
  ...defaultRosSettings('ros2'),
  connect_timeout_ms: 2000,
  reconnect_initial_ms: 30,
  reconnect_max_ms: 120,
};
/** A pose with six different angles: a joint mapped to the wrong name cannot match it by chance. */
const POSE = [0.3, -1.2, 1.1, -1.9, -1.3, 0.5];
const DT_MS = 20;
const UR5E = await loadRobot('ur5e');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function endpoint(opts: Partial<UrEndpointOptions> = {}): Promise<UrEndpoint> {
  return UrEndpoint.start({ robot: 'ur5e', port: 0, camera_hz: 0, ...opts });
}

function driver(url: string, settings = SETTINGS): UrDriver {
  return new UrDriver({ description: UR5E, settings, url });
}

/** Poll read() until `pred` holds (what the control loop does every tick), or fail saying what was seen. */
async function until(
  d: UrDriver,
  pred: (h: Health, s: JointState) => boolean,
  what: string,
  timeout_ms = 2000,
): Promise<JointState> {
  const s = newJointState(UR5E);
  const end = performance.now() + timeout_ms;
  let h = d.read(s);
  while (!pred(h, s)) {
    if (performance.now() > end) throw new Error(`${what}: still '${h}' (${d.problem()})`);
    await sleep(5);
    h = d.read(s);
  }
  return s;
}

/** Wait until a count reaches what is expected (messages in flight arrive when they arrive), then compare. */
async function arrives(what: string, count: () => number, expected: number, timeout_ms = 2000): Promise<void> {
  const end = performance.now() + timeout_ms;
  while (count() < expected && performance.now() < end) await sleep(5);
  assert.equal(count(), expected, what);
}

/** Write `target` (+ gripper) at the runtime's 50 Hz for `ticks` ticks. */
async function stream(d: UrDriver, target: number[], gripper: number, ticks: number): Promise<void> {
  const action = Float64Array.from([...target, gripper]);
  for (let k = 0; k < ticks; k++) {
    d.write(action);
    await sleep(DT_MS);
  }
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tol,
      `${what}[${i}]: ${actual[i]} vs ${expected[i]} (tolerance ${tol})`,
    );
  }
}

async function withDriver(
  epOpts: Partial<UrEndpointOptions>,
  settings: RosSettings,
  body: (d: UrDriver, ep: UrEndpoint) => Promise<void>,
): Promise<void> {
  const ep = await endpoint({ ...epOpts, settings });
  const d = driver(ep.url, settings);
  try {
    await d.configure();
    await body(d, ep);
  } finally {
    await d.close();
    await ep.stop();
  }
}

test('joint names in a shuffled order are mapped by name', async () => {
  await withDriver({ shuffle_joint_names: true }, SETTINGS, async (d, ep) => {
    // the premise: the endpoint really sends the names in changing orders
    const orders = new Set<string>();
    const raw = new Topic<{ name: string[] }>({
      ros: d.connection!.ros,
      name: '/joint_states',
      messageType: 'sensor_msgs/JointState',
    });
    const collect = (m: { name: string[] }) => {
      orders.add(m.name.join(','));
    };
    raw.subscribe(collect);
    await stream(d, POSE, 1, 25);
    raw.unsubscribe(collect);
    assert.ok(orders.size > 3, `expected many name orders, saw ${orders.size}`);
    const s = newJointState(UR5E);
    assert.equal(d.read(s), 'ok');
    const truth = ep.cell.env.readState(ep.cell.env.newState());
    assertClose(s.position_rad, truth.position_rad, 5e-3, 'driver vs sim');
    assertClose(s.position_rad, POSE, 0.02, 'driver vs commanded');
  });
});

test('forward position mode: the endpoint tracks the target, gripper included; activate() is ready', async () => {
  await withDriver({}, SETTINGS, async (d, ep) => {
    assert.equal(await d.activate(), undefined);
    const start = newJointState(UR5E);
    d.read(start);
    assertClose(start.position_rad, UR_HOME_RAD, 1e-3, 'start at home');
    await stream(d, POSE, 0.2, 25);
    assertClose(ep.cell.last_command!, POSE, 1e-12, 'command on the wire');
    const s = await until(d, (_h, st) => Math.abs(st.gripper[0] - 0.2) < 0.05, 'gripper approaches 0.2');
    assertClose(s.position_rad, POSE, 0.02, 'tracked position');
    assert.equal(d.programRunning, true);
    assert.equal(d.speedScaling, 1, 'speed scaling 100 % is read as the fraction 1');
  });
});

test('trajectory mode: one-point trajectories with time_from_start = dt reach the target', async () => {
  await withDriver({}, { ...SETTINGS, command_mode: 'trajectory' }, async (d, ep) => {
    await stream(d, POSE, 1, 25);
    const s = newJointState(UR5E);
    d.read(s);
    assertClose(s.position_rad, POSE, 0.02, 'tracked position');
    assert.ok(ep.cell.commands_received >= 20);
  });
});

test('ROS 1 layout: other topic names, secs/nsecs durations, speed scaling as a fraction', async () => {
  const ros1: RosSettings = { ...defaultRosSettings('ros1'), connect_timeout_ms: 2000, command_mode: 'trajectory' };
  await withDriver({}, ros1, async (d) => {
    const traj: unknown[] = [];
    const monitor = new Topic({
      ros: d.connection!.ros,
      name: '/scaled_pos_joint_traj_controller/command',
      messageType: 'trajectory_msgs/JointTrajectory',
    });
    monitor.subscribe((m) => traj.push(m));
    await stream(d, POSE, 1, 20);
    const s = newJointState(UR5E);
    d.read(s);
    assertClose(s.position_rad, POSE, 0.03, 'tracked position');
    const point = (traj[0] as { points: { time_from_start: unknown }[] }).points[0];
    assert.deepEqual(point.time_from_start, { secs: 0, nsecs: 20_000_000 });
    assert.equal(d.speedScaling, 1);
    assert.equal(d.programRunning, true);
  });
});

test(
  '/joint_states stop: the measurement keeps its receive time, ' +
    'so the runtime judges it stale; a fresh one clears it',
  async () => {
    await withDriver({}, SETTINGS, async (d, ep) => {
      const watch = new FreshnessWatch(SETTINGS.stale_state_ms);
      const s = newJointState(UR5E);
      ep.cell.pauseJointStates(true);
      await sleep(100); // a /joint_states already on the socket when the cell paused still arrives
      d.read(s);
      const last = s.t_mono_ms;
      await sleep(SETTINGS.stale_state_ms + 50);
      assert.equal(d.read(s), 'ok', 'the link is fine: only the state is old');
      assert.equal(s.t_mono_ms, last, 'no newer measurement was made up');
      assert.equal(watch.judge('ok', s.t_mono_ms, monotonicMs()), 'stale');
      ep.cell.pauseJointStates(false);
      await until(d, (_h, st) => st.t_mono_ms > last, 'a fresh /joint_states');
      d.read(s);
      assert.equal(watch.judge('ok', s.t_mono_ms, monotonicMs()), 'ok');
    });
  },
);

test('program stopped: health says so, activate() refuses with why, cleared when it runs again', async () => {
  await withDriver({}, SETTINGS, async (d, ep) => {
    ep.cell.setProgramRunning(false);
    await until(d, (h) => h === 'program_stopped', 'program_stopped');
    assert.match((await d.activate()) ?? '', /robot program is not running/);
    ep.cell.setProgramRunning(true);
    await until(d, (h) => h === 'ok', 'ok again');
    assert.equal(await d.activate(), undefined);
    assert.equal(d.counters().program_stops, 1);
  });
});

test('endpoint restart: disconnected, reconnect with back-off, nothing sent before a fresh state', async () => {
  const ep1 = await endpoint();
  const port = ep1.port;
  const d = driver(ep1.url);
  let ep2: UrEndpoint | undefined;
  try {
    await d.configure();
    await stream(d, UR_HOME_RAD, 1, 3);
    await ep1.stop();
    const gone = await until(d, (h) => h === 'disconnected', 'disconnected');
    assert.equal(gone.t_mono_ms, -Infinity, 'the measurement of the lost connection is forgotten');
    await stream(d, POSE, 1, 3); // must not be queued by roslib for later delivery
    ep2 = await endpoint({ port, publisher_connect_ms: 0 });
    ep2.cell.pauseJointStates(true);
    await until(d, (h) => h === 'connecting', 'connecting');
    assert.equal(ep2.cell.commands_received, 0, 'nothing written while disconnected arrives later');
    ep2.cell.pauseJointStates(false);
    await until(d, (h) => h === 'ok', 'ok after the reconnect');
    d.write(Float64Array.from([...UR_HOME_RAD, 1]));
    await arrives('the one command after the reconnect', () => ep2!.cell.commands_received, 1);
    assert.equal(d.counters().disconnects, 1);
    assert.equal(d.counters().reconnects, 1);
  } finally {
    await d.close();
    await ep2?.stop();
  }
});

test(
  "command topics are advertised at configure: no command is lost while the controllers' subscriptions " + 'connect',
  async () => {
    // a ROS graph where a new publisher's subscribers take 150 ms to connect
    await withDriver({ publisher_connect_ms: 150 }, SETTINGS, async (d, ep) => {
      // the premise: a client that publishes without advertising first loses its first messages
      const raw = new Topic({
        ros: d.connection!.ros,
        name: '/some_other/commands',
        messageType: 'std_msgs/Float64MultiArray',
      });
      for (let i = 0; i < 3; i++) raw.publish({ layout: { dim: [], data_offset: 0 }, data: [0] });
      await arrives('messages lost before the subscribers connected', () => ep.server.lost_before_connect, 3);
      await sleep(150); // as in vla-run: the world and the policy are set up before the first command
      await stream(d, UR_HOME_RAD, 1, 10);
      await arrives('every command written', () => ep.cell.commands_received, d.counters().commands_published);
      assert.equal(ep.server.lost_before_connect, 3, "none of the driver's were lost");
    });
  },
);

test('a command topic without subscribers is refused at configure (ROS 2 names, ROS 1 cell)', async () => {
  const ep = await endpoint({ settings: { ...defaultRosSettings('ros1'), connect_timeout_ms: 2000 } });
  const d = driver(ep.url);
  try {
    // /joint_states is named alike in both layouts: the connection alone does not show the mismatch
    await assert.rejects(
      d.configure(),
      (err: unknown) =>
        err instanceof DriverSetupError &&
        /nobody subscribes to \/forward_position_controller\/commands .*--ros-layout ros1/.test(err.message),
    );
    assert.equal(ep.cell.commands_received, 0);
  } finally {
    await d.close();
    await ep.stop();
  }
});

test('refused connection at start: a DriverSetupError naming the URL, nothing sent', async () => {
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  const d = driver(`ws://127.0.0.1:${port}`);
  await assert.rejects(
    d.configure(),
    (err: unknown) =>
      err instanceof DriverSetupError &&
      err.message.includes(`ws://127.0.0.1:${port}`) &&
      /ECONNREFUSED|refused/i.test(err.message),
  );
  assert.doesNotThrow(
    () => d.write(Float64Array.from([...POSE, 1])),
    'write() without a connection sends nothing, quietly',
  );
  assert.equal(d.read(newJointState(UR5E)), 'disconnected');
});

test('a rosbridge without /joint_states at start is refused too', async () => {
  const bare = await RosbridgeServer.listen({ port: 0 });
  const d = driver(bare.url, { ...SETTINGS, connect_timeout_ms: 300 });
  try {
    await assert.rejects(
      d.configure(),
      (err: unknown) => err instanceof DriverSetupError && /no usable \/joint_states/.test(err.message),
    );
  } finally {
    await bare.close();
  }
});

/** /joint_states published by the cell and read by the driver over the same `window_ms`. */
async function stateRates(d: UrDriver, ep: UrEndpoint, window_ms: number): Promise<{ sent: number; read: number }> {
  const p0 = ep.cell.joint_states_published;
  const r0 = d.faults.states_received;
  await sleep(window_ms);
  return { sent: ep.cell.joint_states_published - p0, read: d.faults.states_received - r0 };
}

test('/joint_states: throttled by rosbridge to joint_states_throttle_ms, every message with 0', async () => {
  assert.equal(SETTINGS.joint_states_throttle_ms, 10, 'the default');
  await withDriver({}, SETTINGS, async (d, ep) => {
    const { sent, read } = await stateRates(d, ep, 1000);
    assert.ok(sent >= 200, `the cell publishes at 500 Hz (${sent} in 1 s)`);
    assert.ok(read <= 115 && read <= sent / 3, `at most 100 Hz read: ${read} of ${sent}`);
    assert.ok(read >= 20, `states still flow: ${read}`);
  });
  await withDriver({}, { ...SETTINGS, joint_states_throttle_ms: 0 }, async (d, ep) => {
    const { sent, read } = await stateRates(d, ep, 1000);
    assert.ok(read >= 0.9 * sent, `unthrottled, every message is read: ${read} of ${sent}`);
  });
});

test('ros settings: layout defaults, overrides merged field by field, wrong fields named', () => {
  const ros1 = resolveRosSettings({
    layout: 'ros1',
    topics: { joint_states: '/ur/joint_states' },
    url: 'ws://10.0.0.2:9090',
  });
  assert.equal(ros1.topics.joint_states, '/ur/joint_states');
  assert.equal(ros1.topics.program_running, '/ur_hardware_interface/robot_program_running');
  assert.equal(ros1.speed_scaling_unit, 'fraction');
  assert.equal(resolveRosSettings({}).topics.forward_position_commands, '/forward_position_controller/commands');
  assert.throws(
    () => resolveRosSettings({ stale_state_ms: -1, topics: { success: 'no-slash' } }),
    (err: unknown) =>
      err instanceof RosSettingsError && /stale_state_ms/.test(err.message) && /topics\.success/.test(err.message),
  );
  assert.throws(() => resolveRosSettings({ url: 'http://robot' }), /url: a WebSocket URL/);
  // a throttle near the staleness limit would make the robot hold between two states
  assert.throws(
    () => resolveRosSettings({ joint_states_throttle_ms: 30 }),
    /joint_states_throttle_ms: joint_states_throttle_ms must be at most a quarter of stale_state_ms/,
  );
  assert.equal(resolveRosSettings({ joint_states_throttle_ms: 30, stale_state_ms: 120 }).joint_states_throttle_ms, 30);
});
