import assert from 'node:assert/strict';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { McapIndexedReader } from '@mcap/core';
import { DECOMPRESS_HANDLERS } from '../src/recording/chunk-compression.js';
import { EpisodeFileError, readEpisode } from '../src/recording/episode-reader.js';
import { EpisodeWriter, type TickRecord } from '../src/recording/episode-writer.js';
import { FileReadable } from '../src/recording/file-io.js';
import { decodeRawImage } from '../src/recording/raw-image.js';
import { frame, META, T0, tickRecord, tmp, writeEpisode } from './fixtures/recording.js';

/** Written by the format 1 writer (base64 PNG in JSON, uncompressed chunks): 4 ticks of tickRecord(). */
const V1_FILE = resolve(import.meta.dirname, '../../test/fixtures/recording-v1.mcap');

let golden: { path: string; bytes: Buffer; recs: TickRecord[] } | undefined;
async function goldenFile() {
  if (!golden) {
    const path = tmp('golden.mcap');
    const recs = await writeEpisode(path);
    golden = { path, bytes: await readFile(path), recs };
  }
  return golden;
}

test('round trip: 60 ticks with 2 cameras', async () => {
  const { path, recs } = await goldenFile();
  const ep = await readEpisode(path);
  assert.equal(ep.path, path);
  assert.deepEqual(ep.meta, META);
  assert.equal(ep.success, true);
  assert.equal(ep.ticks, 60);
  assert.deepEqual(
    [...ep.tick],
    recs.map((r) => r.tick),
  );
  assert.deepEqual(
    [...ep.stamp_ns],
    recs.map((r) => r.stamp_ns),
  );
  assert.deepEqual(
    [...ep.t_mono_ms],
    recs.map((r) => r.t_mono_ms),
  );
  assert.equal(ep.format_version, 2);
  assert.equal(ep.outcome, 'success');
  const rows = (field: 'position_rad' | 'velocity_rad_s' | 'gripper' | 'action') =>
    recs.flatMap((r) => Array.from(r[field]));
  assert.deepEqual([...ep.position_rad], rows('position_rad'));
  assert.deepEqual([...ep.velocity_rad_s], rows('velocity_rad_s'));
  assert.ok(Number.isNaN(ep.velocity_rad_s[7 * 5 + 2]) && Object.is(ep.velocity_rad_s[8 * 5 + 1], -0));
  assert.deepEqual([...ep.gripper], rows('gripper'));
  assert.deepEqual([...ep.action], rows('action'));
  assert.equal(ep.position_rad.length, 60 * 5);
  assert.deepEqual(Object.keys(ep.frames).sort(), ['scene', 'wrist']);
  for (const cam of META.cameras) {
    const f = ep.frames[cam.name]!;
    assert.equal(f.width, cam.width);
    assert.equal(f.height, cam.height);
    const expected = recs.filter((r) => r.frames!.some((x) => x.camera === cam.name));
    assert.deepEqual(
      [...f.tick],
      expected.map((r) => r.tick),
    );
    assert.equal(f.rgb.length, expected.length);
    expected.forEach((r, i) => {
      assert.deepEqual(f.rgb[i], frame(cam.name, cam.width, cam.height, r.tick), `${cam.name} tick ${r.tick}`);
    });
  }
});

test('frames:false skips images but keeps state and action', async () => {
  const { path } = await goldenFile();
  const full = await readEpisode(path);
  const lean = await readEpisode(path, { frames: false });
  assert.deepEqual(lean.frames, {});
  assert.deepEqual(lean.meta, full.meta);
  assert.deepEqual(lean.tick, full.tick);
  assert.deepEqual(lean.stamp_ns, full.stamp_ns);
  assert.deepEqual(lean.position_rad, full.position_rad);
  assert.deepEqual(lean.action, full.action);
});

test('failure flag, empty episode, and no cameras', async () => {
  const path = tmp();
  await writeEpisode(path, 3, false);
  assert.equal((await readEpisode(path)).success, false);
  const empty = tmp();
  const w = await EpisodeWriter.open(empty, { ...META, cameras: [], policy: undefined });
  await w.close({ success: false });
  const ep = await readEpisode(empty);
  assert.equal(ep.ticks, 0);
  assert.equal(ep.tick.length, 0);
  assert.equal(ep.meta.policy, undefined);
  assert.deepEqual(ep.frames, {});
});

test('file has what Foxglove needs (json state, protobuf RawImage frames, lz4 chunks)', async () => {
  const { path } = await goldenFile();
  const fh = await open(path, 'r');
  try {
    const reader = await McapIndexedReader.Initialize({
      readable: new FileReadable(fh, BigInt((await fh.stat()).size)),
      decompressHandlers: DECOMPRESS_HANDLERS,
    });
    // every chunk compressed, with a compression Foxglove reads
    assert.ok(reader.chunkIndexes.length > 0);
    for (const c of reader.chunkIndexes) assert.equal(c.compression, 'lz4');
    const channels = new Map([...reader.channelsById.values()].map((c) => [c.topic, c]));
    assert.deepEqual([...channels.keys()].sort(), [
      '/action',
      '/camera/scene/image',
      '/camera/wrist/image',
      '/joint_state',
    ]);
    for (const [topic, name] of [
      ['/joint_state', 'vla.JointState'],
      ['/action', 'vla.Action'],
    ]) {
      const ch = channels.get(topic)!;
      assert.equal(ch.messageEncoding, 'json');
      const schema = reader.schemasById.get(ch.schemaId)!;
      assert.equal(schema.name, name);
      assert.equal(schema.encoding, 'jsonschema');
      assert.equal(JSON.parse(new TextDecoder().decode(schema.data)).type, 'object');
    }
    for (const topic of ['/camera/scene/image', '/camera/wrist/image']) {
      const ch = channels.get(topic)!;
      assert.equal(ch.messageEncoding, 'protobuf');
      const schema = reader.schemasById.get(ch.schemaId)!;
      assert.equal(schema.name, 'foxglove.RawImage');
      assert.equal(schema.encoding, 'protobuf');
      // a FileDescriptorSet with both files RawImage needs
      const text = Buffer.from(schema.data).toString('latin1');
      for (const s of ['foxglove/RawImage.proto', 'google/protobuf/timestamp.proto', '.google.protobuf.Timestamp'])
        assert.ok(text.includes(s), s);
    }
    assert.equal(reader.statistics?.messageCount, 60n * 2n + 60n + 20n);
    const images = reader.readMessages({ topics: ['/camera/wrist/image'] });
    const first = (await images.next()).value!;
    await images.return();
    assert.equal(first.logTime, T0);
    const img = decodeRawImage(first.data);
    assert.equal(img.stamp_ns, T0);
    assert.equal(img.frame_id, 'wrist');
    assert.deepEqual([img.encoding, img.width, img.height, img.step], ['rgb8', 32, 24, 96]);
    assert.deepEqual(img.data, frame('wrist', 32, 24, 0));
    const js = JSON.parse(
      new TextDecoder().decode((await reader.readMessages({ topics: ['/joint_state'] }).next()).value!.data),
    );
    assert.deepEqual(js.name, META.joint_names);
    assert.equal(js.tick, 0);
    assert.equal(js.t_mono_ms, 5000);
    const metas = [];
    for await (const m of reader.readMetadata()) metas.push(m);
    // the start record (what a file cut short still says about itself), then the final one
    assert.deepEqual(
      metas.map((m) => m.name),
      ['vla.episode.start', 'vla.episode'],
    );
    assert.equal(metas[0]!.metadata.get('outcome'), 'interrupted');
    assert.equal(metas[0]!.metadata.get('robot'), 'so100');
    const md = metas[1]!.metadata;
    assert.equal(md.get('format_version'), '2');
    assert.equal(md.get('robot'), 'so100');
    assert.equal(md.get('success'), 'true');
    assert.equal(md.get('outcome'), 'success');
    assert.equal(md.get('ticks'), '60');
    assert.deepEqual(JSON.parse(md.get('cameras')!), META.cameras);
  } finally {
    await fh.close();
  }
});

test('format 1 recordings (base64 PNG in JSON, uncompressed chunks) still read', async () => {
  const ep = await readEpisode(V1_FILE);
  assert.equal(ep.format_version, 1);
  assert.deepEqual(ep.meta, META);
  assert.equal(ep.outcome, 'success');
  assert.equal(ep.ticks, 4);
  assert.deepEqual([...ep.tick], [0, 1, 2, 3]);
  assert.deepEqual(
    [...ep.stamp_ns],
    [0, 1, 2, 3].map((t) => tickRecord(t).stamp_ns),
  );
  assert.ok([...ep.t_mono_ms].every(Number.isNaN), 'format 1 stored nominal times only');
  assert.deepEqual(
    [...ep.action],
    [0, 1, 2, 3].flatMap((t) => Array.from(tickRecord(t).action)),
  );
  assert.deepEqual([...ep.frames.scene.tick], [0, 3]);
  for (const [i, rgb] of ep.frames.wrist.rgb.entries()) assert.deepEqual(rgb, frame('wrist', 32, 24, i));
  assert.deepEqual(ep.frames.scene.rgb[1], frame('scene', 20, 16, 3));
});

test('how an episode ended: outcome and fault round trip; a contradiction is refused', async () => {
  for (const [outcome, success, fault] of [
    ['interrupted', false, 'interrupted (SIGINT)'],
    ['truncated', false, undefined],
    ['failure', false, undefined],
  ] as const) {
    const path = tmp();
    const w = await EpisodeWriter.open(path, { ...META, tick_clock: 'monotonic' });
    await w.writeTick(tickRecord(0));
    await w.close({ success, outcome, ...(fault ? { fault } : {}) });
    const ep = await readEpisode(path);
    assert.equal(ep.outcome, outcome);
    assert.equal(ep.success, false);
    assert.equal(ep.fault, fault);
    assert.equal(ep.meta.tick_clock, 'monotonic');
    assert.ok(w.bytes > 0 && w.bytes === (await readFile(path)).length);
  }
  const w = await EpisodeWriter.open(tmp(), META);
  await assert.rejects(w.close({ success: true, outcome: 'interrupted' }), /outcome "interrupted" does not go/);
});

test("the sim task's figures at the end round trip; a file without them reads as before", async () => {
  const path = tmp();
  const w = await EpisodeWriter.open(path, META);
  await w.writeTick(tickRecord(0));
  const task_outcome = { cube_to_target_m: 0.1412, closest_cube_to_target_m: 0.0632, cube_lifted: false };
  await w.close({ success: false, task_outcome });
  assert.deepEqual((await readEpisode(path)).task_outcome, task_outcome);
  assert.equal((await readEpisode((await goldenFile()).path)).task_outcome, undefined);
});

test('writeTick rejects records that do not match the meta, and the file stays valid', async () => {
  const path = tmp();
  const w = await EpisodeWriter.open(path, META);
  await w.writeTick(tickRecord(0));
  const bad: [string, Partial<TickRecord> | ((r: TickRecord) => TickRecord), RegExp][] = [
    ['short position', { position_rad: [1, 2, 3] }, /position_rad has 3 values but meta.joint_names has 5/],
    ['long velocity', { velocity_rad_s: new Float64Array(6) }, /velocity_rad_s has 6 values/],
    ['gripper', { gripper: [] }, /gripper has 0 values but meta.gripper_names has 1/],
    ['action', { action: [1] }, /action has 1 values but meta.action_names has 6/],
    [
      'unknown camera',
      { frames: [{ camera: 'top', width: 32, height: 24, rgb: new Uint8Array(32 * 24 * 3) }] },
      /unknown camera "top"/,
    ],
    [
      'frame size',
      { frames: [{ camera: 'wrist', width: 16, height: 24, rgb: new Uint8Array(16 * 24 * 3) }] },
      /16x24, meta says 32x24/,
    ],
    [
      'rgb length',
      { frames: [{ camera: 'wrist', width: 32, height: 24, rgb: new Uint8Array(32 * 24 * 4) }] },
      /rgb has 3072 bytes, expected 32x24x3 = 2304/,
    ],
    ['same tick', { tick: 0 }, /ticks must increase/],
    ['stamp back', { stamp_ns: T0 }, /stamp_ns .* is not after/],
  ];
  for (const [what, change, pattern] of bad) {
    const rec = { ...tickRecord(1), ...change };
    await assert.rejects(w.writeTick(rec as TickRecord), (err: Error) => {
      assert.match(err.message, pattern, what);
      assert.ok(err.message.includes(path), what);
      return true;
    });
  }
  await w.writeTick(tickRecord(1));
  await w.close({ success: true });
  await assert.rejects(w.writeTick(tickRecord(2)), /after close/);
  await assert.rejects(w.close({ success: true }), /called twice/);
  const ep = await readEpisode(path);
  assert.deepEqual([...ep.tick], [0, 1]);
});

test('open rejects a bad meta and an uncreatable path', async () => {
  await assert.rejects(
    EpisodeWriter.open(tmp(), { ...META, joint_names: 'x' as unknown as string[] }),
    /joint_names must be an array of strings/,
  );
  await assert.rejects(
    EpisodeWriter.open(tmp(), { ...META, cameras: [{ name: 'a/b', width: 1, height: 1 }] }),
    /camera name/,
  );
  const file = tmp('plain.txt');
  await writeFile(file, 'x');
  await assert.rejects(EpisodeWriter.open(join(file, 'e.mcap'), META), EpisodeFileError);
});

test('un-awaited writeTick calls are queued in order and callers may reuse buffers', async () => {
  const path = tmp();
  const w = await EpisodeWriter.open(path, META);
  const pos = new Float64Array(5);
  const pending = [];
  for (let t = 0; t < 30; t++) {
    pos.fill(t);
    pending.push(w.writeTick({ ...tickRecord(t), position_rad: pos }));
  }
  pending.push(w.close({ success: true }));
  await Promise.all(pending);
  const ep = await readEpisode(path);
  assert.deepEqual([...ep.position_rad], Array.from({ length: 30 }, (_, t) => new Array(5).fill(t)).flat());
});
