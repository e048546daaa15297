// The rosbridge v2 protocol server and the simulated UR cell behind it, through the real roslib.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultRosSettings } from '../calibration/ros-settings.js';
import { RosConnection } from '../drivers/ur/ros-connection.js';
import { type Ros, Service, Topic } from '../drivers/ur/roslib.js';
import { type JointStateMsg, rosSeconds } from '../protocols/ros/messages.js';
import { UR_HOME_RAD, UR_JOINT_NAMES } from '../sim/robots/ur.js';
import { RosbridgeServer } from '../sim/rosbridge/rosbridge-server.js';
import { UrEndpoint } from '../sim/rosbridge/ur-endpoint.js';
import { RosEpisodeLink } from '../src/world/ros-episode-link.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TOPICS = defaultRosSettings('ros2').topics;

function open(url: string): Promise<RosConnection> {
  return RosConnection.open({ url, connect_timeout_ms: 2000, reconnect_initial_ms: 50, reconnect_max_ms: 100 });
}

function call<T>(ros: Ros, name: string, args: object): Promise<T> {
  return new Promise((resolve, reject) => {
    new Service<object, T>({ ros, name, serviceType: 'std_srvs/Trigger' }).callService(args, resolve, (e) =>
      reject(new Error(e)),
    );
  });
}

async function until(what: string, cond: () => boolean, timeout_ms = 3000): Promise<void> {
  const end = performance.now() + timeout_ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

test('topics: publish both ways, latched delivery to late subscribers, unsubscribe', async () => {
  const server = await RosbridgeServer.listen({ port: 0 });
  const conn = await open(server.url);
  try {
    const fromClients: unknown[] = [];
    server.onMessage('/cmd', 'std_msgs/Float64', (m) => fromClients.push(m));
    new Topic({ ros: conn.ros, name: '/cmd', messageType: 'std_msgs/Float64' }).publish({ data: 1.5 });

    const latched = server.advertise('/status', 'std_msgs/Bool', { latch: true });
    latched.publish({ data: true });
    const plain = server.advertise('/chatter', 'std_msgs/String');
    const seen: string[] = [];
    const status: unknown[] = [];
    new Topic({ ros: conn.ros, name: '/status', messageType: 'std_msgs/msg/Bool' }).subscribe((m) => status.push(m));
    const chatter = new Topic<{ data: string }>({ ros: conn.ros, name: '/chatter', messageType: 'std_msgs/String' });
    const onChatter = (m: { data: string }) => {
      seen.push(m.data);
    };
    chatter.subscribe(onChatter);
    await until(
      'the subscription and the latched message',
      () => plain.subscribers === 1 && fromClients.length === 1 && status.length > 0,
    );
    assert.deepEqual(fromClients, [{ data: 1.5 }]);
    assert.deepEqual(status, [{ data: true }], 'a latched message reaches a subscriber that came later');
    plain.publish({ data: 'a' });
    plain.publish({ data: 'b' });
    await until('two messages', () => seen.length === 2);
    chatter.unsubscribe(onChatter);
    await until('the unsubscribe', () => plain.subscribers === 0);
    plain.publish({ data: 'c' });
    await sleep(30);
    assert.deepEqual(seen, ['a', 'b']);
  } finally {
    await conn.close();
    await server.close();
  }
});

test('subscribe throttle_rate: one message per period; queue_length 1 sends the newest later, 0 drops', async () => {
  const server = await RosbridgeServer.listen({ port: 0 });
  // a client each: rosbridge merges the subscriptions of one client to one topic (minimum throttle)
  const [conn, third, other] = [await open(server.url), await open(server.url), await open(server.url)];
  try {
    const pub = server.advertise('/fast', 'std_msgs/Float64');
    const [queued, dropped, all]: number[][] = [[], [], []];
    const subscribe = (ros: Ros, throttle_rate: number, queue_length: number, into: number[]) =>
      new Topic<{ data: number }>({
        ros,
        name: '/fast',
        messageType: 'std_msgs/Float64',
        throttle_rate,
        queue_length,
      }).subscribe((m) => into.push(m.data));
    subscribe(conn.ros, 100, 1, queued);
    subscribe(third.ros, 100, 0, dropped);
    subscribe(other.ros, 0, 0, all);
    await until('three subscriptions', () => pub.subscribers === 3);
    // one burst within a single turn of the event loop: no time passes between these publishes
    for (let i = 0; i < 60; i++) pub.publish({ data: i });
    await until('the unthrottled subscriber has all 60', () => all.length === 60);
    await until('the message that waited for the period', () => queued.length === 2);
    await sleep(250);
    assert.deepEqual(queued, [0, 59], 'the first goes out at once, then only the newest, a period later');
    assert.deepEqual(dropped, [0], 'without a queue, what came within the period is dropped');
  } finally {
    await other.close();
    await third.close();
    await conn.close();
    await server.close();
  }
});

test('call_service: values on success; result false with the error on failure or an unknown service', async () => {
  const server = await RosbridgeServer.listen({ port: 0 });
  const conn = await open(server.url);
  try {
    server.advertiseService('/add', 'demo/Add', (args) => ({ sum: Number(args.a) + Number(args.b) }));
    server.advertiseService('/broken', 'std_srvs/Trigger', () => {
      throw new Error('the gripper is not calibrated');
    });
    assert.deepEqual(await call(conn.ros, '/add', { a: 2, b: 3 }), { sum: 5 });
    await assert.rejects(call(conn.ros, '/broken', {}), /the gripper is not calibrated/);
    await assert.rejects(call(conn.ros, '/nope', {}), /Service \/nope does not exist/);
  } finally {
    await conn.close();
    await server.close();
  }
});

test('UR cell: /joint_states at the controller rate (UR5e 500 Hz, UR5 125 Hz), status topics', async () => {
  for (const [robot, hz] of [
    ['ur5e', 500],
    ['ur5', 125],
  ] as const) {
    const ep = await UrEndpoint.start({ robot, port: 0, camera_hz: 0, publisher_connect_ms: 0 });
    const conn = await open(ep.url);
    try {
      const msgs: JointStateMsg[] = [];
      let program: unknown, scaling: unknown;
      new Topic<JointStateMsg>({
        ros: conn.ros,
        name: TOPICS.joint_states,
        messageType: 'sensor_msgs/JointState',
      }).subscribe((m) => msgs.push(m));
      new Topic({ ros: conn.ros, name: TOPICS.program_running, messageType: 'std_msgs/Bool' }).subscribe((m) => {
        program = m;
      });
      new Topic({ ros: conn.ros, name: TOPICS.speed_scaling, messageType: 'std_msgs/Float64' }).subscribe((m) => {
        scaling = m;
      });
      await until('the first /joint_states', () => msgs.length > 0);
      // the rate itself is the drift-free schedule's (test/fixed-rate.test.ts), at the controller's period
      assert.equal(ep.cell.controller_hz, hz);
      await until('a few more /joint_states', () => msgs.length > 10);
      assert.ok(msgs.length <= ep.cell.stats.joint_states_published);
      const m = msgs.at(-1)!;
      assert.deepEqual(m.name, [...UR_JOINT_NAMES, 'gripper']);
      UR_HOME_RAD.forEach((q, i) => {
        assert.ok(Math.abs(m.position[i] - q) < 1e-3);
      });
      assert.equal(m.velocity.length, 7);
      assert.ok(Math.abs(rosSeconds(m.header.stamp) - Date.now() / 1000) < 1, 'header stamp is wall time');
      assert.deepEqual(program, { data: true });
      assert.deepEqual(scaling, { data: 100 });
    } finally {
      await conn.close();
      await ep.stop();
    }
  }
});

test('UR cell: /vla_sim/reset with a seed places the objects from it; bad seeds are refused', async () => {
  const ep = await UrEndpoint.start({ robot: 'ur5e', port: 0, camera_hz: 0, seed: 0, publisher_connect_ms: 0 });
  const conn = await open(ep.url);
  try {
    let task: { seed: number; objects: { cube: { pos: number[] } }; target: { pos: number[] } } | undefined;
    let success: unknown;
    new Topic<{ data: string }>({ ros: conn.ros, name: TOPICS.task_state, messageType: 'std_msgs/String' }).subscribe(
      (m) => {
        task = JSON.parse(m.data);
      },
    );
    new Topic({ ros: conn.ros, name: TOPICS.success, messageType: 'std_msgs/Bool' }).subscribe((m) => {
      success = m;
    });
    await until('the task state', () => task !== undefined && success !== undefined);
    assert.equal(task!.seed, 0);
    assert.deepEqual(success, { data: false });
    const cube0 = task!.objects.cube.pos;

    const reply = await call<{ success: boolean; message: string }>(conn.ros, TOPICS.reset_service, { seed: 5 });
    assert.deepEqual(reply, { success: true, message: 'reset to seed 5' });
    await until('the new episode', () => task!.seed === 5);
    const cube5 = task!.objects.cube.pos;
    assert.ok(Math.hypot(cube5[0] - cube0[0], cube5[1] - cube0[1]) > 1e-3, 'another seed, another placement');
    await call(conn.ros, TOPICS.reset_service, { seed: 0 });
    await until('seed 0 again', () => task!.seed === 0);
    const again = task!.objects.cube.pos;
    // x, y only: the cube settles on the table by a fraction of a millimetre after a reset
    assert.ok(Math.hypot(again[0] - cube0[0], again[1] - cube0[1]) < 1e-4, 'the same seed, the same placement');
    await assert.rejects(call(conn.ros, TOPICS.reset_service, { seed: -1 }), /seed must be a non-negative integer/);
    await call(conn.ros, TOPICS.reset_service, {});
    await until('the next seed', () => task!.seed === 1);
  } finally {
    await conn.close();
    await ep.stop();
  }
});

test('UR cell: forward commands must have 6 values; a one-point trajectory is reached at time_from_start', async () => {
  const ep = await UrEndpoint.start({ robot: 'ur5e', port: 0, camera_hz: 0, publisher_connect_ms: 0 });
  const conn = await open(ep.url);
  try {
    new Topic({
      ros: conn.ros,
      name: TOPICS.forward_position_commands,
      messageType: 'std_msgs/Float64MultiArray',
    }).publish({ layout: { dim: [], data_offset: 0 }, data: [0, 0, 0, 0, 0, 0, 1] });
    await sleep(40);
    assert.equal(ep.cell.commands_received, 0, 'a 7-value command is refused');

    const target = [0.2, -1.4, 1.4, -1.7, -1.5, 0.3];
    // joint order scrambled on purpose: trajectories are mapped by joint name too
    const order = [5, 0, 4, 1, 3, 2];
    new Topic({ ros: conn.ros, name: TOPICS.joint_trajectory, messageType: 'trajectory_msgs/JointTrajectory' }).publish(
      {
        header: { stamp: { sec: 0, nanosec: 0 }, frame_id: '' },
        joint_names: order.map((i) => UR_JOINT_NAMES[i]),
        points: [
          {
            positions: order.map((i) => target[i]),
            velocities: [],
            accelerations: [],
            effort: [],
            time_from_start: { sec: 0, nanosec: 300_000_000 },
          },
        ],
      },
    );
    await until('the trajectory', () => ep.cell.commands_received === 1);
    const s = ep.cell.env.newState();
    await sleep(150);
    ep.cell.env.readState(s);
    const halfway = Math.abs(s.position_rad[0] - target[0]);
    assert.ok(halfway > 0.03, `half-way through, joint 0 is still ${halfway.toFixed(3)} rad from the goal`);
    await sleep(350);
    ep.cell.env.readState(s);
    target.forEach((q, i) => {
      assert.ok(Math.abs(s.position_rad[i] - q) < 0.01, `joint ${i}: ${s.position_rad[i]} vs ${q}`);
    });
  } finally {
    await conn.close();
    await ep.stop();
  }
});

test('episode link: reset by seed, success flag and task state through ROS', async () => {
  const ep = await UrEndpoint.start({ robot: 'ur5e', port: 0, camera_hz: 0, task: 'push', publisher_connect_ms: 0 });
  const conn = await open(ep.url);
  const link = new RosEpisodeLink(conn.ros, defaultRosSettings('ros2'));
  try {
    await link.reset(3);
    await until('the task state of seed 3', () => link.taskState()?.seed === 3);
    const st = link.taskState()!;
    assert.equal(st.task, 'push');
    assert.ok(st.objects.cube && st.target, 'object poses and target are published');
    assert.equal(link.success(), false);
    await assert.rejects(link.reset(-2), /seed must be a non-negative integer/);
  } finally {
    link.close();
    await conn.close();
    await ep.stop();
  }
});

test('episode link: a reset while the endpoint restarts is retried until the service is back', async () => {
  const opts = { robot: 'ur5e', camera_hz: 0, task: 'push', publisher_connect_ms: 0 } as const;
  let ep = await UrEndpoint.start({ ...opts, port: 0 });
  const port = ep.port;
  const conn = await open(ep.url);
  const link = new RosEpisodeLink(conn.ros, defaultRosSettings('ros2'));
  try {
    await ep.stop();
    const t0 = performance.now();
    const reset = link.reset(4, 8);
    await sleep(800);
    ep = await UrEndpoint.start({ ...opts, port });
    await reset;
    assert.ok(performance.now() - t0 >= 800, 'it cannot have reset a stopped endpoint');
    await until('the task state of seed 4', () => link.taskState()?.seed === 4);
    // an answer that says no is final: not retried until the timeout
    const t1 = performance.now();
    await assert.rejects(link.reset(-2, 8), /refused|seed must be a non-negative integer/);
    assert.ok(performance.now() - t1 < 4000, 'a refusal is not retried');
  } finally {
    link.close();
    await conn.close();
    await ep.stop();
  }
});
