// Camera sources: ROS CompressedImage topics (from the simulated endpoint, real roslib) and V4L2 through
// ffmpeg (tested with ffmpeg's lavfi test source), each with frame age on the monotonic clock.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import jpeg from 'jpeg-js';
import { firstValueFrom, take, toArray } from 'rxjs';
import { cameraTopic, defaultRosSettings } from '../calibration/ros-settings.js';
import { CameraSpecError, parseCameraSpec, parseCameraSpecs } from '../drivers/cameras/camera-spec.js';
import { findFfmpeg } from '../drivers/cameras/ffmpeg-path.js';
import {
  CameraError,
  FfmpegCamera,
  frameAgeMs,
  lavfiTestInputArgs,
  RawFrameSplitter,
  RosImageCamera,
  v4l2InputArgs,
} from '../drivers/cameras/index.js';
import { RosConnection } from '../drivers/ur/ros-connection.js';
import { RosbridgeServer } from '../sim/rosbridge/rosbridge-server.js';
import { UrEndpoint } from '../sim/rosbridge/ur-endpoint.js';
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
  assert.deepEqual(frames, [
    [1, 2, 3, 4],
    [5, 6, 7, 8],
    [9, 10, 11, 12],
  ]);
  assert.equal(s.pending_bytes, 1);
  assert.throws(() => new RawFrameSplitter(0, () => undefined), /positive/);
});

test('ROS camera: PNG CompressedImage from the simulated cell is decoded, with its age', async () => {
  const ep = await UrEndpoint.start({
    robot: 'ur5e',
    port: 0,
    cameras: ['top', 'wrist'],
    camera_size: 32,
    camera_hz: 25,
  });
  const conn = await open(ep.url);
  const cam = new RosImageCamera({ ros: conn.ros, name: 'top', topic: cameraTopic(SETTINGS, 'top') });
  try {
    const first = await cam.start();
    // generous bounds: this 2-core machine may be busy; a wrong clock would be off by hours, not ms
    assert.ok(
      frameAgeMs(first) >= 0 && frameAgeMs(first) < 500,
      `a frame is fresh on arrival (age ${frameAgeMs(first).toFixed(1)} ms)`,
    );
    const a = cam.latest()!;
    const arrived = await firstValueFrom(cam.frame$.pipe(take(1)));
    const b = cam.latest()!;
    assert.equal(b.seq, arrived.seq, 'latest() is the frame that arrived last');
    for (const f of [a, b]) {
      assert.equal(f.width, 32);
      assert.equal(f.height, 32);
      assert.equal(f.rgb.length, 32 * 32 * 3);
    }
    assert.ok(b.seq > a.seq);
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

/** A 32x24 JPEG, red on the left half and blue on the right. */
function twoColourJpeg(): Buffer {
  const w = 32,
    h = 24,
    data = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) data.set(x < w / 2 ? [220, 20, 20, 255] : [20, 20, 220, 255], (y * w + x) * 4);
  }
  return jpeg.encode({ width: w, height: h, data }, 90).data;
}

async function withPublishedImages(
  payload: { format: string; data: Buffer },
  body: (cam: RosImageCamera) => Promise<void>,
): Promise<void> {
  const server = await RosbridgeServer.listen({ port: 0 });
  const conn = await open(server.url);
  const cam = new RosImageCamera({
    ros: conn.ros,
    name: 'front',
    topic: '/front/image_raw/compressed',
    start_timeout_ms: 2000,
  });
  const pub = server.advertise('/front/image_raw/compressed', 'sensor_msgs/CompressedImage');
  const timer = setInterval(
    () => pub.publish({ header: {}, format: payload.format, data: payload.data.toString('base64') }),
    10,
  );
  try {
    await body(cam);
  } finally {
    clearInterval(timer);
    await cam.stop();
    await conn.close();
    await server.close();
  }
}

test('ROS camera: a JPEG CompressedImage (what most camera drivers publish) is decoded', async () => {
  await withPublishedImages({ format: 'rgb8; jpeg compressed bgr8', data: twoColourJpeg() }, async (cam) => {
    const f = await cam.start();
    assert.equal(f.width, 32);
    assert.equal(f.height, 24);
    const px = (x: number, y: number) => [...f.rgb.subarray((y * 32 + x) * 3, (y * 32 + x) * 3 + 3)];
    const [lr, lg, lb] = px(4, 12),
      [rr, rg, rb] = px(28, 12);
    assert.ok(lr > 180 && lg < 60 && lb < 60, `left is red: ${px(4, 12)}`);
    assert.ok(rb > 180 && rr < 60 && rg < 60, `right is blue: ${px(28, 12)}`);
  });
});

test('ROS camera: a corrupt JPEG or a format that is not an image is refused, saying which', async () => {
  await withPublishedImages({ format: 'jpeg', data: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0]) }, async (cam) => {
    await assert.rejects(
      cam.start(),
      (err: unknown) => err instanceof CameraError && /cannot decode JPEG/.test(err.message),
    );
  });
  await withPublishedImages({ format: 'rgb8', data: Buffer.alloc(48) }, async (cam) => {
    await assert.rejects(
      cam.start(),
      (err: unknown) => err instanceof CameraError && /'rgb8' is neither JPEG nor PNG/.test(err.message),
    );
  });
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
  await assert.rejects(
    missing.start(),
    (err: unknown) =>
      err instanceof CameraError && /ffmpeg not found at '\/nonexistent\/ffmpeg'.*FFMPEG_PATH/.test(err.message),
  );
  const noDevice = new FfmpegCamera({
    name: 'wrist',
    width: 8,
    height: 8,
    input_args: v4l2InputArgs('/dev/video-vla-missing'),
  });
  await assert.rejects(
    noDevice.start(),
    (err: unknown) => err instanceof CameraError && /cannot read \/dev\/video-vla-missing/.test(err.message),
  );
});

test('camera specs: device or lavfi stand-in, size and rate, one name once; a bad spec says the form', () => {
  const dev = parseCameraSpec('wrist=/dev/video2:1280x720@60');
  assert.deepEqual([dev.name, dev.source, dev.width, dev.height, dev.fps], ['wrist', '/dev/video2', 1280, 720, 60]);
  assert.deepEqual(dev.input_args, ['-f', 'v4l2', '-framerate', '60', '-video_size', '1280x720', '-i', '/dev/video2']);
  const lavfi = parseCameraSpec('top=lavfi:smptebars');
  assert.deepEqual([lavfi.width, lavfi.height, lavfi.fps], [640, 480, 30]);
  assert.deepEqual(lavfi.input_args, ['-re', '-f', 'lavfi', '-i', 'smptebars=size=640x480:rate=30']);
  for (const bad of [
    'top',
    'top=/dev/video0:640',
    'top=lavfi:testsrc=size=1x1',
    'top=/dev/video0@0',
    'top=/dev/video0:4x4',
  ]) {
    assert.throws(() => parseCameraSpec(bad), CameraSpecError, bad);
  }
  assert.throws(() => parseCameraSpecs(['top=/dev/video0', 'top=/dev/video1']), /camera 'top' is given twice/);
});

test("ffmpeg: FFMPEG_PATH first, then the system's on PATH, then the one shipped in npm", () => {
  assert.deepEqual(findFfmpeg({ FFMPEG_PATH: '/opt/ff/ffmpeg', PATH: '/usr/bin' }), {
    path: '/opt/ff/ffmpeg',
    from: 'FFMPEG_PATH',
  });
  const shipped = findFfmpeg({ PATH: '' });
  assert.equal(shipped?.from, '@ffmpeg-installer/ffmpeg', 'a machine with only Node still has an ffmpeg');
  assert.match(shipped!.path, /@ffmpeg-installer/);
});
