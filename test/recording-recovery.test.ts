// Recordings whose writer never finished: what is on disk is a valid MCAP prefix at every moment, chunks go out
// at the documented bound (1 s of robot time or 1 MiB), and the reader recovers exactly the complete ticks, with
// the same values the writer was given. Expected tick counts come from the intact file's own chunk index (or
// from the bound), never from the recovery being checked.
import assert from 'node:assert/strict';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { McapIndexedReader, McapStreamReader, McapWriter } from '@mcap/core';
import { DECOMPRESS_HANDLERS } from '../src/recording/chunk-compression.js';
import { EpisodeFileError, readEpisode } from '../src/recording/episode-reader.js';
import { CHUNK_FLUSH_BYTES, EpisodeWriter, type TickRecord } from '../src/recording/episode-writer.js';
import { FileReadable, FileWritable } from '../src/recording/file-io.js';
import { recoveredLine } from '../src/recording/index.js';
import { META, tickRecord, tmp, writeEpisode } from './fixtures/recording.js';

/** Byte offsets where each chunk record ends (its messages are readable from there), from the file's summary. */
async function chunkEnds(path: string): Promise<{ end: number; ticks: number }[] & { metaEnd?: number }> {
  const fh = await open(path, 'r');
  try {
    const r = await McapIndexedReader.Initialize({
      readable: new FileReadable(fh, BigInt((await fh.stat()).size)),
      decompressHandlers: DECOMPRESS_HANDLERS,
    });
    let ticks = 0;
    const out: { end: number; ticks: number }[] & { metaEnd?: number } = [];
    const final = r.metadataIndexes.find((m) => m.name === 'vla.episode')!;
    out.metaEnd = Number(final.offset + final.length);
    for (const c of [...r.chunkIndexes].sort((a, b) => Number(a.chunkStartOffset - b.chunkStartOffset))) {
      // the ticks in a chunk: its /joint_state messages (chunks do not overlap in time)
      const { messageStartTime: startTime, messageEndTime: endTime } = c;
      for await (const _ of r.readMessages({ topics: ['/joint_state'], startTime, endTime })) ticks++;
      out.push({ end: Number(c.chunkStartOffset + c.chunkLength), ticks });
    }
    return out;
  } finally {
    await fh.close();
  }
}

function assertSameTicks(ep: Awaited<ReturnType<typeof readEpisode>>, recs: TickRecord[], n: number): void {
  assert.equal(ep.ticks, n);
  const J = META.joint_names.length;
  for (let k = 0; k < n; k++) {
    assert.equal(ep.tick[k], k);
    assert.equal(ep.stamp_ns[k], recs[k]!.stamp_ns);
    assert.deepEqual(Array.from(ep.position_rad.subarray(k * J, (k + 1) * J)), Array.from(recs[k]!.position_rad));
    assert.deepEqual(Array.from(ep.action.subarray(k * 6, (k + 1) * 6)), Array.from(recs[k]!.action));
  }
  // every wrist frame of a recovered tick is there, none of a lost one
  assert.deepEqual(
    Array.from(ep.frames.wrist!.tick),
    Array.from({ length: n }, (_, k) => k),
  );
}

test('cut anywhere: the complete ticks come back, as written; nothing recoverable is refused', async () => {
  const path = tmp('whole.mcap');
  const recs = await writeEpisode(path, 120);
  const bytes = await readFile(path);
  const ends = await chunkEnds(path);
  // 120 ticks at 50 Hz: a chunk per second of ticks (50, 50) and the rest at close (20)
  assert.deepEqual(
    ends.map((e) => e.ticks),
    [50, 100, 120],
  );
  const cuts = new Set<number>();
  for (let k = 1; k < 40; k++) cuts.add(Math.floor((bytes.length * k) / 40));
  for (const e of ends) for (const d of [-1, 0, 1]) cuts.add(e.end + d);
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    const expected = ends.filter((e) => e.end <= cut).at(-1)?.ticks ?? 0;
    const file = tmp(`cut-${cut}.mcap`);
    await writeFile(file, bytes.subarray(0, cut));
    if (expected === 0) {
      await assert.rejects(readEpisode(file), (err: unknown) => {
        assert.ok(err instanceof EpisodeFileError);
        assert.match(err.message, /cut-\d+\.mcap: .*truncated MCAP file/);
        return true;
      });
      continue;
    }
    const ep = await readEpisode(file);
    assertSameTicks(ep, recs, expected);
    assert.equal(ep.meta.seed, META.seed);
    assert.deepEqual(ep.meta.cameras, META.cameras);
    assert.deepEqual(ep.recovered && { n: ep.recovered.complete_ticks, last: ep.recovered.last_tick }, {
      n: expected,
      last: expected - 1,
    });
    // cut after the final metadata record (in the summary): that record says how the episode ended
    const inSummary = cut >= ends.metaEnd!;
    assert.equal(ep.outcome, inSummary ? 'success' : 'interrupted', `cut ${cut}`);
    if (!inSummary) assert.match(ep.fault ?? '', /recording cut short/);
    const stateOnly = await readEpisode(file, { frames: false });
    assert.equal(stateOnly.ticks, expected);
  }
});

test('what is on disk while recording is a valid MCAP prefix, flushed every second of ticks', async () => {
  const path = tmp('live.mcap');
  const w = await EpisodeWriter.open(path, META);
  const recs: TickRecord[] = [];
  const seen: number[] = [];
  for (let t = 0; t < 160; t++) {
    recs.push(tickRecord(t));
    await w.writeTick(recs[t]!);
    if (t % 10 === 9) {
      const size = (await stat(path)).size;
      seen.push(size === 0 ? 0 : (await readEpisode(path)).ticks);
      // the bytes so far parse as MCAP records with no error (a prefix: the stream reader just wants more)
      const stream = new McapStreamReader({ decompressHandlers: DECOMPRESS_HANDLERS });
      stream.append(await readFile(path));
      while (stream.nextRecord());
      assert.equal(stream.done(), false);
    }
  }
  // 50 ticks = 1 s at 50 Hz: at most that much robot time was ever only in memory
  assert.deepEqual(seen, [0, 0, 0, 0, 50, 50, 50, 50, 50, 100, 100, 100, 100, 100, 150, 150]);
  await w.close({ success: true });
  const ep = await readEpisode(path);
  assert.equal(ep.recovered, undefined);
  assertSameTicks(ep, recs, 160);
});

test('big frames: a chunk goes out at 1 MiB, before the second is up', async () => {
  const size = 320 * 240 * 3;
  const meta = { ...META, cameras: [{ name: 'wrist', width: 320, height: 240 }] };
  const path = tmp('frames.mcap');
  const w = await EpisodeWriter.open(path, meta);
  const perTick = Math.ceil(CHUNK_FLUSH_BYTES / size); // the tick that passes 1 MiB ends the chunk
  assert.ok(perTick < 50);
  const counts: number[] = [];
  for (let t = 0; t < perTick * 2; t++) {
    const rgb = new Uint8Array(size).fill(t);
    await w.writeTick({ ...tickRecord(t, false), frames: [{ camera: 'wrist', width: 320, height: 240, rgb }] });
    counts.push((await stat(path)).size === 0 ? 0 : (await readEpisode(path, { frames: false })).ticks);
  }
  assert.equal(counts.indexOf(perTick), perTick - 1);
  assert.equal(counts.at(-1), perTick * 2);
  assert.ok(counts.slice(0, perTick - 1).every((n) => n === 0));
  const ep = await readEpisode(path);
  assert.deepEqual(ep.frames.wrist!.rgb[3]![0], 3);
  await w.close({ success: false });
});

test('a damaged chunk in a file without summary: the ticks before it, and the reason says so', async () => {
  const path = tmp('damaged.mcap');
  const w = await EpisodeWriter.open(path, META);
  const recs: TickRecord[] = [];
  for (let t = 0; t < 150; t++) {
    recs.push(tickRecord(t));
    await w.writeTick(recs[t]!);
  }
  const bytes = Buffer.from(await readFile(path));
  await w.close({ success: true });
  const ends = await chunkEnds(path);
  // a byte in the middle of the second chunk's data
  bytes[Math.floor((ends[0]!.end + ends[1]!.end) / 2)] ^= 0x5a;
  const file = tmp('damaged-cut.mcap');
  await writeFile(file, bytes);
  const ep = await readEpisode(file);
  assertSameTicks(ep, recs, 50);
  assert.match(ep.recovered!.reason, /damaged data near byte \d+/);
  assert.match(
    recoveredLine(ep),
    /^recovered: the file ends without its summary .*; 50 complete ticks of episode seed 1234 up to tick 49$/,
  );
});

test('a cut file from a writer without the start record is still refused, naming the file', async () => {
  const path = tmp('foreign.mcap');
  const fh = await open(path, 'w');
  const mcap = new McapWriter({ writable: new FileWritable(fh), chunkSize: 100 });
  await mcap.start({ profile: '', library: 'someone else' });
  const ch = await mcap.registerChannel({
    topic: '/joint_state',
    schemaId: 0,
    messageEncoding: 'json',
    metadata: new Map(),
  });
  for (let i = 0; i < 20; i++)
    await mcap.addMessage({
      channelId: ch,
      sequence: i,
      logTime: BigInt(i),
      publishTime: BigInt(i),
      data: new Uint8Array(80),
    });
  await fh.close(); // no end(): no summary
  await assert.rejects(readEpisode(path), /foreign\.mcap: truncated MCAP file .*no "vla\.episode\.start" record/);
});
