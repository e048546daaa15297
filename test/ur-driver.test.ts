// The UR driver against the simulated rosbridge endpoint, over a real WebSocket with the real roslib.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { firstValueFrom, filter } from 'rxjs';
import { UrEndpoint, type UrEndpointOptions } from '../sim/rosbridge/ur-endpoint.js';
import { RosbridgeServer } from '../sim/rosbridge/rosbridge-server.js';
import { UrDriver, RosConnectionError, type UrDriverStatus } from '../drivers/ur/ur-driver.js';
import { Topic } from '../drivers/ur/roslib.js';
import { defaultRosSettings, resolveRosSettings, RosSettingsError, type RosSettings } from '../calibration/ros-settings.js';
import { UR_HOME_RAD } from '../sim/robots/ur.js';

/** Short fault timings so that the tests do not wait for production back-offs. */
const SETTINGS: RosSettings = { ...defaultRosSettings('ros2'), connect_timeout_ms: 2000, reconnect_initial_ms: 30, reconnect_max_ms: 120 };
/** A pose with six different angles: a joint mapped to the wrong name cannot match it by chance. */
const POSE = [0.3, -1.2, 1.1, -1.9, -1.3, 0.5];
const DT_MS = 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function endpoint(opts: Partial<UrEndpointOptions> = {}): Promise<UrEndpoint> {
  return UrEndpoint.start({ robot: 'ur5e', port: 0, camera_hz: 0, ...opts });
}

function statusIs(d: UrDriver, status: UrDriverStatus, timeout_ms = 2000): Promise<void> {
  return Promise.race([
    firstValueFrom(d.status$.pipe(filter((s) => s.status === status))).then(() => undefined),
    sleep(timeout_ms).then(() => { throw new Error(`driver status did not become '${status}' within ${timeout_ms} ms (it is '${d.status}')`); }),
  ]);
}

/** Stream `target` (+ gripper) at the runtime's 50 Hz for `ms`. */
async function stream(d: UrDriver, target: number[], gripper: number, ms: number): Promise<void> {
  const action = Float64Array.from([...target, gripper]);
  for (let t = 0; t < ms; t += DT_MS) {
    d.send(action);
    await sleep(DT_MS);
  }
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]} (tolerance ${tol})`);
  }
}

test('joint names in a shuffled order are mapped by name', async () => {
  const ep = await endpoint({ shuffle_joint_names: true });
  const d = new UrDriver({ robot: 'ur5e', url: ep.url, settings: SETTINGS });
  try {
    await d.connect();
    // the premise: the endpoint really sends the names in changing orders
    const orders = new Set<string>();
    const raw = new Topic<{ name: string[] }>({ ros: d.connection!.ros, name: '/joint_states', messageType: 'sensor_msgs/JointState' });
    const collect = (m: { name: string[] }) => { orders.add(m.name.join(',')); };
    raw.subscribe(collect);
    await stream(d, POSE, 1, 500);
    raw.unsubscribe(collect);
    assert.ok(orders.size > 3, `expected many name orders, saw ${orders.size}`);
    const measured = d.latestState()!.position_rad;
    const truth = ep.cell.env.newState();
    ep.cell.env.readState(truth);
    assertClose(measured, truth.position_rad, 5e-3, 'driver vs sim');
    assertClose(measured, POSE, 0.02, 'driver vs commanded');
  } finally {
    await d.disconnect();
    await ep.stop();
  }
});

test('forward position mode: the endpoint tracks the streamed target, gripper included', async () => {
  const ep = await endpoint();
  const d = new UrDriver({ robot: 'ur5e', url: ep.url, settings: SETTINGS });
  try {
    await d.connect();
    assertClose(d.latestState()!.position_rad, UR_HOME_RAD, 1e-3, 'start at home');
    await stream(d, POSE, 0.2, 500);
    assertClose(ep.cell.last_command!, POSE, 1e-12, 'command on the wire');
    const s = d.latestState()!;
    assertClose(s.position_rad, POSE, 0.02, 'tracked position');
    assert.ok(Math.abs(s.gripper[0] - 0.2) < 0.05, `gripper ${s.gripper[0]} should approach 0.2`);
    assert.equal(d.programRunning, true);
    assert.equal(d.speedScaling, 1, 'speed scaling 100 % is read as the fraction 1');
  } finally {
    await d.disconnect();
    await ep.stop();
  }
});

test('trajectory mode: one-point trajectories with time_from_start = dt reach the target', async () => {
  const ep = await endpoint();
  const d = new UrDriver({ robot: 'ur5e', url: ep.url, settings: { ...SETTINGS, command_mode: 'trajectory' } });
  try {
    await d.connect();
    await stream(d, POSE, 1, 500);
    assertClose(d.latestState()!.position_rad, POSE, 0.02, 'tracked position');
    assert.ok(ep.cell.commands_received >= 20);
  } finally {
    await d.disconnect();
    await ep.stop();
  }
});

test('ROS 1 layout: other topic names, secs/nsecs durations, speed scaling as a fraction', async () => {
  const ros1: RosSettings = { ...defaultRosSettings('ros1'), connect_timeout_ms: 2000, command_mode: 'trajectory' };
  const ep = await endpoint({ settings: ros1 });
  const d = new UrDriver({ robot: 'ur5e', url: ep.url, settings: ros1 });
  try {
    await d.connect();
    const traj: unknown[] = [];
    const monitor = new Topic({ ros: d.connection!.ros, name: '/scaled_pos_joint_traj_controller/command', messageType: 'trajectory_msgs/JointTrajectory' });
    monitor.subscribe((m) => traj.push(m));
    await stream(d, POSE, 1, 400);
    assertClose(d.latestState()!.position_rad, POSE, 0.03, 'tracked position');
    const point = (traj[0] as { points: { time_from_start: unknown }[] }).points[0];
    assert.deepEqual(point.time_from_start, { secs: 0, nsecs: 20_000_000 });
    assert.equal(d.speedScaling, 1);
    assert.equal(d.programRunning, true);
  } finally {
    await d.disconnect();
    await ep.stop();
  }
});

test('stale /joint_states: hold and report within ~100 ms, send nothing, resume on fresh state', async () => {
  const ep = await endpoint();
  const d = new UrDriver({ robot: 'ur5e', url: ep.url, settings: SETTINGS });
  try {
    await d.connect();
    await stream(d, UR_HOME_RAD, 1, 60);
    const paused = performance.now();
    ep.cell.pauseJointStates(true);
    await statusIs(d, 'stale', 1000);
    const detect_ms = performance.now() - paused;
    assert.ok(detect_ms >= SETTINGS.stale_state_ms - 5 && detect_ms < SETTINGS.stale_state_ms + 150, `stale detected after ${detect_ms.toFixed(0)} ms`);
    const before = ep.cell.commands_received;
    await stream(d, POSE, 1, 100);
    assert.equal(ep.cell.commands_received, before, 'no command may be derived from a stale state');
    assert.ok(d.faults.held_ticks >= 4 && d.faults.stale_states === 1);
    ep.cell.pauseJointStates(false);
    await statusIs(d, 'ok', 500);
    await stream(d, UR_HOME_RAD, 1, 40);
    assert.ok(ep.cell.commands_received > before, 'commands resume after a fresh state');
  } finally {
    await d.disconnect();
    await ep.stop();
  }
});

test('robot program stopped: the driver holds by commanding the measured position', async () => {
  const ep = await endpoint();
  const d = new UrDriver({ robot: 'ur5e', url: ep.url, settings: SETTINGS });
  try {
    await d.connect();
    // a second client watches what the driver puts on the wire
    const wire: number[][] = [];
    const monitor = new Topic<{ data: number[] }>({ ros: d.connection!.ros, name: SETTINGS.topics.forward_position_commands, messageType: 'std_msgs/Float64MultiArray' });
    monitor.subscribe((m) => wire.push(m.data));
    await sleep(50);
    ep.cell.setProgramRunning(false);
    await statusIs(d, 'program_stopped', 500);
    await stream(d, POSE, 1, 100);
    assert.ok(wire.length >= 3, `expected hold commands on the wire, saw ${wire.length}`);
    for (const q of wire) assertClose(q, UR_HOME_RAD, 2e-3, 'hold command');
    ep.cell.setProgramRunning(true);
    await statusIs(d, 'ok', 500);
    assert.equal(d.faults.program_stops, 1);
  } finally {
    await d.disconnect();
    await ep.stop();
  }
});

test('endpoint restart on the same port: hold, reconnect with back-off, no motion before a fresh state', async () => {
  const ep1 = await endpoint();
  const port = ep1.port;
  const d = new UrDriver({ robot: 'ur5e', url: ep1.url, settings: SETTINGS });
  let ep2: UrEndpoint | undefined;
  try {
    await d.connect();
    await stream(d, UR_HOME_RAD, 1, 60);
    await ep1.stop();
    await statusIs(d, 'disconnected', 1000);
    assert.equal(d.latestState(), undefined, 'the measurement of the lost connection is forgotten');
    await stream(d, POSE, 1, 60); // must not be queued by roslib for later delivery

    const restarted = performance.now();
    ep2 = await endpoint({ port });
    ep2.cell.pauseJointStates(true);
    await statusIs(d, 'connecting', 2000);
    await stream(d, POSE, 1, 60);
    assert.equal(ep2.cell.commands_received, 0, 'no command before a fresh /joint_states after the reconnect');

    ep2.cell.pauseJointStates(false);
    await statusIs(d, 'ok', 1000);
    const resume_ms = performance.now() - restarted;
    d.hold();
    await sleep(30);
    assert.equal(ep2.cell.commands_received, 1);
    assertClose(ep2.cell.last_command!, UR_HOME_RAD, 1e-3, 'the first command after the reconnect holds the measured pose');
    assert.equal(d.faults.disconnects, 1);
    assert.equal(d.faults.reconnects, 1);
    assert.ok(resume_ms < 1500, `resumed ${resume_ms.toFixed(0)} ms after the restart`);
  } finally {
    await d.disconnect();
    await ep2?.stop();
  }
});

test('refused connection at start: a RosConnectionError naming the URL, nothing sent', async () => {
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  const d = new UrDriver({ robot: 'ur5e', url: `ws://127.0.0.1:${port}`, settings: SETTINGS });
  await assert.rejects(d.connect(), (err: unknown) => err instanceof RosConnectionError && err.message.includes(`ws://127.0.0.1:${port}`) && /ECONNREFUSED|refused/i.test(err.message));
  assert.notEqual(d.status, 'ok');
  assert.doesNotThrow(() => d.send(Float64Array.from([...POSE, 1])), 'send() after a failed connect holds quietly');
  assert.equal(d.latestState(), undefined);
});

test('a rosbridge without /joint_states at start is refused too', async () => {
  const bare = await RosbridgeServer.listen({ port: 0 });
  const d = new UrDriver({ robot: 'ur5e', url: bare.url, settings: { ...SETTINGS, connect_timeout_ms: 300 } });
  try {
    await assert.rejects(d.connect(), (err: unknown) => err instanceof RosConnectionError && /no usable \/joint_states/.test(err.message));
  } finally {
    await bare.close();
  }
});

test('ros settings: layout defaults, overrides merged field by field, wrong fields named', () => {
  const ros1 = resolveRosSettings({ layout: 'ros1', topics: { joint_states: '/ur/joint_states' }, url: 'ws://10.0.0.2:9090' });
  assert.equal(ros1.topics.joint_states, '/ur/joint_states');
  assert.equal(ros1.topics.program_running, '/ur_hardware_interface/robot_program_running');
  assert.equal(ros1.speed_scaling_unit, 'fraction');
  assert.equal(resolveRosSettings({}).topics.forward_position_commands, '/forward_position_controller/commands');
  assert.throws(() => resolveRosSettings({ stale_state_ms: -1, topics: { success: 'no-slash' } }), (err: unknown) =>
    err instanceof RosSettingsError && /stale_state_ms/.test(err.message) && /topics\.success/.test(err.message));
  assert.throws(() => resolveRosSettings({ url: 'http://robot' }), /url: a WebSocket URL/);
});
