// Camera sources: ROS CompressedImage topics (from the simulated endpoint, real roslib) and V4L2 through
// ffmpeg (tested with ffmpeg's lavfi test source), each with frame age on the monotonic clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstValueFrom, take, toArray } from 'rxjs';
import { UrEndpoint } from '../sim/rosbridge/ur-endpoint.js';
import { RosbridgeServer } from '../sim/rosbridge/rosbridge-server.js';
import { RosConnection } from '../drivers/ur/ros-connection.js';
import { CameraError, FfmpegCamera, RawFrameSplitter, RosImageCamera, frameAgeMs, lavfiTestInputArgs, v4l2InputArgs } from '../drivers/cameras/index.js';
import { cameraTopic, defaultRosSettings } from '../calibration/ros-settings.js';
import { monotonicMs } from '../src/util/clock.js';

const SETTINGS = defaultRosSettings('ros2');

function open(url: string): Promise<RosConnection> {
  return RosConnection.open({ url, connect_timeout_ms: 2000, reconnect_initial_ms: 50, reconnect_max_ms: 100 });
}

test('raw frames are cut by exact byte count whatever the pipe chunks are', () => {
  const frames: number[][] = [];
  const s = new RawFrameSplitter(4, (f) => frames.push([...f]));
  s.push(Uint8Array.of(1, 2, 3));
  s.push(Uint8Array.of(4, 5, 6, 7, 8, 9, 10, 11, 12, 13));
  assert.deepEqual(frames, [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]);
  assert.equal(s.pending_bytes, 1);
  assert.throws(() => new RawFrameSplitter(0, () => undefined), /positive/);
});

test('ROS camera: PNG CompressedImage from the simulated cell is decoded, with its age', async () => {
  const ep = await UrEndpoint.start({ robot: 'ur5e', port: 0, cameras: ['top', 'wrist'], camera_size: 32, camera_hz: 25 });
  const conn = await open(ep.url);
  const cam = new RosImageCamera({ ros: conn.ros, name: 'top', topic: cameraTopic(SETTINGS, 'top') });
  try {
    const first = await cam.start();
    // generous bounds: this 2-core machine may be busy; a wrong clock would be off by hours, not ms
    assert.ok(frameAgeMs(first) >= 0 && frameAgeMs(first) < 500, `a frame is fresh on arrival (age ${frameAgeMs(first).toFixed(1)} ms)`);
    const [a, b] = await firstValueFrom(cam.frame$.pipe(take(2), toArray()));
    for (const f of [a, b]) {
      assert.equal(f.width, 32);
      assert.equal(f.height, 32);
      assert.equal(f.rgb.length, 32 * 32 * 3);
    }
    assert.equal(b.seq, a.seq + 1);
    const gap = b.t_mono_ms - a.t_mono_ms;
    assert.ok(gap > 0 && gap < 500, `frames ${gap.toFixed(0)} ms apart at 25 Hz`);
    // a real picture: many different colours, not a blank frame
    const colours = new Set<number>();
    for (let i = 0; i < b.rgb.length; i += 3) colours.add((b.rgb[i] << 16) | (b.rgb[i + 1] << 8) | b.rgb[i + 2]);
    assert.ok(colours.size > 20, `only ${colours.size} colours`);
    assert.ok(frameAgeMs(cam.latest(), monotonicMs() + 1000) > 1000, 'age grows while no new frame comes');
  } finally {
    await cam.stop();
    await conn.close();
    await ep.stop();
  }
});

test('ROS camera: a JPEG stream is refused with a message saying so', async () => {
  const server = await RosbridgeServer.listen({ port: 0 });
  const conn = await open(server.url);
  const cam = new RosImageCamera({ ros: conn.ros, name: 'front', topic: '/front/image_raw/compressed', start_timeout_ms: 2000 });
  const pub = server.advertise('/front/image_raw/compressed', 'sensor_msgs/CompressedImage');
  const timer = setInterval(() => pub.publish({ header: {}, format: 'jpeg', data: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0]).toString('base64') }), 10);
  try {
    await assert.rejects(cam.start(), (err: unknown) => err instanceof CameraError && /JPEG images are not supported/.test(err.message));
  } finally {
    clearInterval(timer);
    await conn.close();
    await server.close();
  }
});

test('ffmpeg camera: lavfi test source, frames of exact size, stamped on arrival', async () => {
  const cam = new FfmpegCamera({ name: 'test', width: 64, height: 48, input_args: lavfiTestInputArgs(64, 48, 30) });
  try {
    const first = await cam.start();
    assert.equal(first.rgb.length, 64 * 48 * 3);
    const frames = await firstValueFrom(cam.frame$.pipe(take(6), toArray()));
    const received = monotonicMs();
    frames.forEach((f, i) => {
      assert.equal(f.rgb.length, 64 * 48 * 3);
      if (i > 0) assert.equal(f.seq, frames[i - 1].seq + 1);
    });
    const age = frameAgeMs(frames.at(-1), received);
    assert.ok(age >= 0 && age < 250, `the newest frame is fresh when it is handed over (age ${age.toFixed(1)} ms)`);
    // lavfi runs ahead of real time at first, then at its 30 Hz: check the order, not the spacing
    assert.ok(frames.every((f, i) => i === 0 || f.t_mono_ms >= frames[i - 1].t_mono_ms));
    assert.notDeepEqual(frames[0].rgb, frames.at(-1)!.rgb, 'the test pattern moves');
    // testsrc is colour bars: mid-grey on average, not a blank or garbled buffer
    const mean = frames[0].rgb.reduce((a, v) => a + v, 0) / frames[0].rgb.length;
    assert.ok(mean > 80 && mean < 170, `mean level ${mean.toFixed(0)}`);
  } finally {
    await cam.stop();
  }
});

test('ffmpeg camera: a clear error when ffmpeg is missing or the device cannot be opened', async () => {
  const missing = new FfmpegCamera({ name: 'wrist', width: 8, height: 8, ffmpeg_path: '/nonexistent/ffmpeg' });
  await assert.rejects(missing.start(), (err: unknown) => err instanceof CameraError && /ffmpeg not found.*apt-get install ffmpeg/.test(err.message));
  const noDevice = new FfmpegCamera({ name: 'wrist', width: 8, height: 8, input_args: v4l2InputArgs('/dev/video-vla-missing') });
  await assert.rejects(noDevice.start(), (err: unknown) => err instanceof CameraError && /cannot read \/dev\/video-vla-missing/.test(err.message));
});
