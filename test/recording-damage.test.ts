import assert from 'node:assert/strict';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { test } from 'node:test';
import { McapWriter } from '@mcap/core';
import { EpisodeFileError, readEpisode } from '../src/recording/episode-reader.js';
import type { TickRecord } from '../src/recording/episode-writer.js';
import { FileWritable } from '../src/recording/file-io.js';
import {
  ACTION_SCHEMA,
  EPISODE_METADATA_NAME,
  encodeEpisodeMetadata,
  JOINT_STATE_SCHEMA,
  schemaBytes,
  TOPIC_ACTION,
  TOPIC_JOINT_STATE,
} from '../src/recording/schemas.js';
import { DT, META, T0, tmp, writeEpisode } from './fixtures/recording.js';

async function expectFileError(
  path: string,
  pattern: RegExp,
  opts?: { frames?: boolean; recover?: boolean },
): Promise<EpisodeFileError> {
  try {
    await readEpisode(path, opts);
  } catch (err) {
    assert.ok(err instanceof EpisodeFileError, `expected EpisodeFileError, got ${String(err)}`);
    assert.equal(err.path, path);
    assert.ok(err.message.includes(basename(path)), `message names the file: ${err.message}`);
    assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`readEpisode(${path}) should have failed with ${pattern}`);
}

let golden: { path: string; bytes: Buffer; recs: TickRecord[] } | undefined;
async function goldenFile() {
  if (!golden) {
    const path = tmp('golden.mcap');
    const recs = await writeEpisode(path);
    golden = { path, bytes: await readFile(path), recs };
  }
  return golden;
}

test('missing file, directory, empty file, not MCAP', async () => {
  await expectFileError(tmp('nope.mcap'), /file not found/);
  const sub = tmp('adir.mcap');
  await mkdir(sub);
  await expectFileError(sub, /a folder, not an episode file: give one of its .mcap files|is a directory/);
  const empty = tmp('empty.mcap');
  await writeFile(empty, '');
  await expectFileError(empty, /empty file/);
  const text = tmp('notes.mcap');
  await writeFile(text, 'these are not the bytes you are looking for\n'.repeat(10));
  await expectFileError(text, /not an MCAP file \(bad magic/);
  const png = tmp('image.mcap');
  await writeFile(png, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]));
  await expectFileError(png, /not an MCAP file/);
});

test('truncated files: refused with recover: false; with nothing to recover, refused by default too', async () => {
  const { bytes } = await goldenFile();
  // recovery itself is tested in recording-recovery.test.ts; here: what stays refused
  for (const cut of [Math.floor(bytes.length / 2), bytes.length - 200, bytes.length - 37, bytes.length - 1]) {
    const path = tmp(`cut-${cut}.mcap`);
    await writeFile(path, bytes.subarray(0, cut));
    const err = await expectFileError(path, /truncated MCAP file/, { recover: false });
    assert.equal(err.problem, 'truncated MCAP file (no footer; was the recording interrupted?)');
  }
  // the header and the start record but no chunk: not a single complete tick
  for (const cut of [20, 64, 1000]) {
    const path = tmp(`cut-${cut}.mcap`);
    await writeFile(path, bytes.subarray(0, cut));
    await expectFileError(path, /truncated MCAP file.*(no complete tick|no "vla\.episode\.start" record)/);
  }
  for (const cut of [1, 5]) {
    const path = tmp(`cut-${cut}.mcap`);
    await writeFile(path, bytes.subarray(0, cut));
    await expectFileError(path, /truncated MCAP file/);
  }
});

test('corrupted bytes anywhere give EpisodeFileError', async () => {
  const { bytes } = await goldenFile();
  const positions = new Set<number>();
  for (let k = 0; k < 48; k++) positions.add(Math.floor(((bytes.length - 1) * k) / 47));
  for (const p of [Math.floor(bytes.length / 2), 9, 30, bytes.length - 30, bytes.length - 9]) positions.add(p);
  for (const p of positions) {
    const damaged = Buffer.from(bytes);
    damaged[p] ^= 0x5a;
    const path = tmp(`flip-${p}.mcap`);
    await writeFile(path, damaged);
    await expectFileError(path, /corrupt|truncated|not an MCAP/);
    await expectFileError(path, /corrupt|truncated|not an MCAP/, { frames: false });
  }
  const mid = Buffer.from(bytes);
  for (let i = 0; i < 64; i++) mid[Math.floor(mid.length / 2) + i] = (i * 97) & 255;
  const path = tmp('garbage.mcap');
  await writeFile(path, mid);
  await expectFileError(path, /corrupt MCAP file/);
});

/** An MCAP with the episode's channels, written by hand to produce files EpisodeWriter refuses to. */
async function craft(
  path: string,
  opts: { metadata?: Map<string, string>; messages: [topic: string, tick: number, json: string | object][] },
) {
  const fh = await open(path, 'w');
  const w = new McapWriter({ writable: new FileWritable(fh) });
  await w.start({ profile: '', library: 'test' });
  const ids = new Map<string, number>();
  for (const [topic, def] of [
    [TOPIC_JOINT_STATE, JOINT_STATE_SCHEMA],
    [TOPIC_ACTION, ACTION_SCHEMA],
  ] as const) {
    const schemaId = await w.registerSchema({ name: def.name, encoding: 'jsonschema', data: schemaBytes(def) });
    ids.set(topic, await w.registerChannel({ topic, schemaId, messageEncoding: 'json', metadata: new Map() }));
  }
  for (const [topic, tick, json] of opts.messages) {
    const stamp = T0 + BigInt(tick) * DT;
    const body =
      typeof json === 'string'
        ? json
        : JSON.stringify({
            timestamp: { sec: Number(stamp / 1_000_000_000n), nsec: Number(stamp % 1_000_000_000n) },
            tick,
            ...json,
          });
    await w.addMessage({
      channelId: ids.get(topic)!,
      sequence: tick,
      logTime: stamp,
      publishTime: stamp,
      data: new TextEncoder().encode(body),
    });
  }
  if (opts.metadata) await w.addMetadata({ name: EPISODE_METADATA_NAME, metadata: opts.metadata });
  await w.end();
  await fh.close();
}
const noCams = { ...META, cameras: [] };
const joint = (t: number) =>
  [
    TOPIC_JOINT_STATE,
    t,
    { name: META.joint_names, position: [1, 2, 3, 4, 5], velocity: [0, 0, 0, 0, 0], gripper: [0.5] },
  ] as [string, number, object];
const act = (t: number) =>
  [TOPIC_ACTION, t, { name: META.action_names, action: [1, 2, 3, 4, 5, 6] }] as [string, number, object];
const md = (ticks: number) => encodeEpisodeMetadata(noCams, { success: true, outcome: 'success', ticks });

test('hand-made files: a valid one reads, broken ones are named precisely', async () => {
  const ok = tmp('ok.mcap');
  await craft(ok, { metadata: md(2), messages: [joint(0), act(0), joint(1), act(1)] });
  assert.deepEqual([...(await readEpisode(ok)).action], [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]);

  const cases: [string, Parameters<typeof craft>[1], RegExp][] = [
    ['no-meta', { messages: [joint(0), act(0)] }, /no "vla\.episode" metadata record/],
    [
      'bad-meta',
      { metadata: new Map([...md(1)].map(([k, v]) => [k, k === 'seed' ? 'abc' : v])), messages: [joint(0), act(0)] },
      /bad "vla\.episode" metadata: "seed" is "abc"/,
    ],
    [
      'bad-figures',
      { metadata: new Map([...md(1), ['task_outcome', '{"cube_to_target_m": "far"}']]), messages: [joint(0), act(0)] },
      /bad "vla\.episode" metadata: "task_outcome" is not a JSON object of numbers and true\/false/,
    ],
    [
      'bad-json',
      { metadata: md(1), messages: [[TOPIC_JOINT_STATE, 0, '{"tick": 0, "position": [1,'], act(0)] },
      /\/joint_state message at log time \d+ is not valid JSON/,
    ],
    [
      'short-pos',
      { metadata: md(1), messages: [[TOPIC_JOINT_STATE, 0, { ...joint(0)[2], position: [1, 2] }], act(0)] },
      /\(tick 0\): "position" has 2 values, expected 5/,
    ],
    [
      'string-value',
      { metadata: md(1), messages: [joint(0), [TOPIC_ACTION, 0, { ...act(0)[2], action: [1, 2, '3', 4, 5, 6] }]] },
      /"action"\[2\] is not a number/,
    ],
    [
      'wrong-names',
      { metadata: md(1), messages: [[TOPIC_JOINT_STATE, 0, { ...joint(0)[2], name: ['a'] }], act(0)] },
      /"name" does not match the episode's joint_names/,
    ],
    [
      'no-action',
      { metadata: md(2), messages: [joint(0), act(0), joint(1)] },
      /tick 1 \(log time \d+\) has no \/action message/,
    ],
    [
      'no-joint',
      { metadata: md(2), messages: [joint(0), act(0), act(1), joint(2), act(2)] },
      /tick 1 \(log time \d+\) has no \/joint_state message/,
    ],
    [
      'tick-mismatch',
      { metadata: md(1), messages: [joint(0), [TOPIC_ACTION, 0, { ...act(0)[2], tick: 3 }]] },
      /\/joint_state for tick 0 but \/action for tick 3/,
    ],
    [
      'too-few',
      { metadata: md(3), messages: [joint(0), act(0), joint(1), act(1)] },
      /metadata says 3 ticks but the file has only 2 \/joint_state messages/,
    ],
    [
      'too-many',
      { metadata: md(1), messages: [joint(0), act(0), joint(1), act(1)] },
      /more ticks than the 1 the episode metadata says/,
    ],
    [
      'bad-stamp',
      { metadata: md(1), messages: [[TOPIC_JOINT_STATE, 0, `{"timestamp":{"sec":1,"nsec":2},"tick":0}`], act(0)] },
      /"timestamp" is missing or does not match the log time/,
    ],
  ];
  for (const [name, spec, pattern] of cases) {
    const path = tmp(`${name}.mcap`);
    await craft(path, spec);
    await expectFileError(path, pattern);
  }
});
