// Reads an episode recorded by EpisodeWriter back into flat typed arrays. Anything wrong with the
// file (missing, not MCAP, damaged, not an episode) is an EpisodeFileError naming the file and the
// problem; no error from fs or @mcap/core escapes unwrapped. A file whose writer did not finish (no
// summary) gives its complete ticks, marked `recovered` (episode-recovery.ts).
import { type FileHandle, open } from 'node:fs/promises';
import { McapIndexedReader, type TypedMcapRecords } from '@mcap/core';
import { DECOMPRESS_HANDLERS } from './chunk-compression.js';
import { type RecoveredInfo, recoverEpisode, TRUNCATED } from './episode-recovery.js';
import type { EpisodeMeta } from './episode-writer.js';
import { describeFsError, EpisodeFileError, reasonOf } from './errors.js';
import { crc32OfRange, FileReadable, haveCrc32, readExactly } from './file-io.js';
import {
  cameraTopic,
  decodeEpisodeMetadata,
  EPISODE_METADATA_NAME,
  type EpisodeOutcomeName,
  IMAGE_MESSAGE_ENCODING,
  legacyCameraTopic,
  MESSAGE_ENCODING,
  TOPIC_ACTION,
  TOPIC_JOINT_STATE,
} from './schemas.js';
import { TickAssembler } from './tick-assembler.js';

export { EpisodeFileError } from './errors.js';

export interface EpisodeFrames {
  width: number;
  height: number;
  tick: Int32Array;
  rgb: Uint8Array[];
}
export interface Episode {
  path: string;
  meta: EpisodeMeta;
  /** 1: base64 PNG in JSON, uncompressed, nominal tick times; 2: raw frames, lz4 chunks, actual tick times. */
  format_version: number;
  success: boolean;
  /** success | failure | truncated (a time budget cut it) | interrupted (Ctrl-C, a fault); format 1: the first two. */
  outcome: EpisodeOutcomeName;
  /** Why the robot was stopped, for an interrupted episode. */
  fault?: string;
  /** In the sim: the task's figures when the episode ended (e.g. cube_to_target_m); absent from older files. */
  task_outcome?: Record<string, number | boolean>;
  ticks: number;
  tick: Int32Array;
  stamp_ns: BigInt64Array;
  /** When each tick executed (ms on meta.tick_clock); NaN in format 1 files, which stored nominal times only. */
  t_mono_ms: Float64Array;
  position_rad: Float64Array; // ticks x joint_names.length, row-major
  velocity_rad_s: Float64Array; // same
  gripper: Float64Array; // ticks x gripper_names.length
  action: Float64Array; // ticks x action_names.length
  frames: Record<string, EpisodeFrames>;
  /** Set when the file had no summary (its writer did not finish) and its complete ticks were read. */
  recovered?: RecoveredInfo;
}

const MAGIC = Uint8Array.of(0x89, 0x4d, 0x43, 0x41, 0x50, 0x30, 0x0d, 0x0a); // \x89MCAP0\r\n
const FOOTER_LEN = 1 + 8 + 8 + 8 + 4; // opcode, record length, summary start, summary offset start, crc
/** @mcap/core tags its errors with the writing library, which says nothing to a user here. */
const mcapReason = (err: unknown): string => reasonOf(err).replace(/ \[library=[^\]]*\]$/, '');

export interface ReadOptions {
  /** Camera frames too (default true); without them camera messages are not even parsed (`frames` is `{}`). */
  frames?: boolean;
  /** A file without its summary gives its complete ticks, marked `recovered` (default true); false: refused. */
  recover?: boolean;
}

/** Reads a whole episode; reading state/action only (`frames: false`) is cheap, for training or plots. */
export async function readEpisode(path: string, opts: ReadOptions = {}): Promise<Episode> {
  const wantFrames = opts.frames ?? true;
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new EpisodeFileError(path, describeFsError(err, 'open'), { cause: err });
  }
  try {
    return await readOpen(path, fh, wantFrames, opts.recover ?? true);
  } catch (err) {
    if (err instanceof EpisodeFileError) throw err;
    // Whatever else got here came out of parsing bytes we do not trust.
    throw new EpisodeFileError(path, `corrupt MCAP file (${mcapReason(err)})`, { cause: err });
  } finally {
    await fh.close().catch(() => {});
  }
}

async function readOpen(path: string, fh: FileHandle, wantFrames: boolean, recover: boolean): Promise<Episode> {
  const fail = (problem: string, cause?: unknown): never => {
    throw new EpisodeFileError(path, problem, cause === undefined ? undefined : { cause });
  };
  let size: number;
  try {
    const st = await fh.stat();
    if (st.isDirectory()) fail('a folder, not an episode file: give one of its .mcap files');
    if (!st.isFile()) fail('not a regular file');
    size = st.size;
  } catch (err) {
    if (err instanceof EpisodeFileError) throw err;
    return fail(describeFsError(err, 'read'), err);
  }
  if ((await checkEnvelope(fh, size, fail)) === 'truncated') {
    if (!recover) fail(TRUNCATED);
    return recoverEpisode(path, fh, size, wantFrames, fail);
  }

  let reader: McapIndexedReader;
  try {
    reader = await McapIndexedReader.Initialize({
      readable: new FileReadable(fh, BigInt(size)),
      decompressHandlers: DECOMPRESS_HANDLERS,
    });
  } catch (err) {
    return fail(`corrupt MCAP file: cannot read its index (${mcapReason(err)})`, err);
  }
  // Chunk CRCs only cover message bytes; the data-section CRC also covers the metadata record and
  // message indexes, so one pass over the file catches any damaged byte.
  if (reader.dataSectionCrc !== undefined && haveCrc32) {
    const crc = await crc32OfRange(fh, 0, Number(reader.dataEndOffset));
    if (crc !== reader.dataSectionCrc) {
      fail(
        `corrupt MCAP file (data section CRC is ${crc}, the file says ${reader.dataSectionCrc}; bytes were damaged)`,
      );
    }
  }

  const records: TypedMcapRecords['Metadata'][] = [];
  try {
    for await (const rec of reader.readMetadata({ name: EPISODE_METADATA_NAME })) records.push(rec);
  } catch (err) {
    fail(`corrupt MCAP file: cannot read metadata (${mcapReason(err)})`, err);
  }
  if (records.length === 0) {
    fail(`no "${EPISODE_METADATA_NAME}" metadata record: not a vla-runtime episode (or written by something else)`);
  }
  if (records.length > 1) fail(`${records.length} "${EPISODE_METADATA_NAME}" metadata records; expected one`);
  let decoded: ReturnType<typeof decodeEpisodeMetadata>;
  try {
    decoded = decodeEpisodeMetadata(records[0]!.metadata);
  } catch (err) {
    return fail(`bad "${EPISODE_METADATA_NAME}" metadata: ${reasonOf(err)}`, err);
  }
  const { meta, success, ticks, outcome, fault, format_version, task_outcome } = decoded;

  // Route channels by topic; anything else in the file (extra topics) is left alone.
  const kinds = new Map<number, { kind: 'joint' | 'action' | string; encoding: string }>();
  const camTopic = format_version >= 2 ? cameraTopic : legacyCameraTopic;
  const cameraTopics = new Map(meta.cameras.map((c) => [camTopic(c.name), c.name]));
  for (const ch of reader.channelsById.values()) {
    const kind =
      ch.topic === TOPIC_JOINT_STATE ? 'joint' : ch.topic === TOPIC_ACTION ? 'action' : cameraTopics.get(ch.topic);
    if (kind === undefined || (!wantFrames && kind !== 'joint' && kind !== 'action')) continue;
    const camera = kind !== 'joint' && kind !== 'action';
    const expected = camera && format_version >= 2 ? IMAGE_MESSAGE_ENCODING : MESSAGE_ENCODING;
    if (ch.messageEncoding !== expected) {
      fail(`channel ${ch.topic} has message encoding "${ch.messageEncoding}", expected "${expected}"`);
    }
    kinds.set(ch.id, { kind: camera ? `camera:${kind}` : kind, encoding: ch.messageEncoding });
  }

  // The assembler allocates for `ticks` rows up front, so check the count against the index first.
  const stats = reader.statistics?.channelMessageCounts;
  if (stats) {
    let joint = 0n;
    for (const [id, n] of stats) if (kinds.get(id)?.kind === 'joint') joint += n;
    if (BigInt(ticks) > joint)
      fail(`episode metadata says ${ticks} ticks but the file has only ${joint} ${TOPIC_JOINT_STATE} messages`);
  }
  const asm = new TickAssembler(meta, ticks, wantFrames);
  const topics = wantFrames
    ? [TOPIC_JOINT_STATE, TOPIC_ACTION, ...cameraTopics.keys()]
    : [TOPIC_JOINT_STATE, TOPIC_ACTION];
  let iter: AsyncGenerator<TypedMcapRecords['Message'], void, void>;
  try {
    iter = reader.readMessages({ topics });
  } catch (err) {
    return fail(`corrupt MCAP file: cannot read messages (${mcapReason(err)})`, err);
  }
  for (;;) {
    let next: IteratorResult<TypedMcapRecords['Message'], void>;
    try {
      next = await iter.next();
    } catch (err) {
      return fail(`corrupt MCAP file: cannot read messages (${mcapReason(err)})`, err);
    }
    if (next.done) break;
    const msg = next.value;
    const route = kinds.get(msg.channelId);
    if (route === undefined) continue;
    const problem = asm.add(route.kind, msg.logTime, msg.data, route.encoding);
    if (problem !== undefined) fail(problem);
  }
  const problem = asm.finish();
  if (problem !== undefined) fail(problem);

  const frames = asm.episodeFrames();
  return {
    path,
    meta,
    format_version,
    success,
    outcome,
    ...(fault !== undefined ? { fault } : {}),
    ...(task_outcome !== undefined ? { task_outcome } : {}),
    ticks,
    tick: asm.tick,
    stamp_ns: asm.stamp_ns,
    t_mono_ms: asm.t_mono_ms,
    position_rad: asm.position_rad,
    velocity_rad_s: asm.velocity_rad_s,
    gripper: asm.gripper,
    action: asm.action,
    frames,
  };
}

/** Tells "not MCAP" from "truncated" before @mcap/core gives a generic parse error for both. */
async function checkEnvelope(
  fh: FileHandle,
  size: number,
  fail: (problem: string) => never,
): Promise<'whole' | 'truncated'> {
  if (size === 0) fail('empty file (0 bytes), not an MCAP recording');
  const head = await readExactly(fh, 0, Math.min(size, MAGIC.length));
  if (!head.equals(MAGIC.subarray(0, head.length))) fail('not an MCAP file (bad magic at start of file)');
  if (size < MAGIC.length * 2 + FOOTER_LEN) return 'truncated';
  const tail = await readExactly(fh, size - MAGIC.length - FOOTER_LEN, MAGIC.length + FOOTER_LEN);
  if (tail.subarray(FOOTER_LEN).equals(MAGIC)) return 'whole';
  // An intact footer record (opcode 0x02, length 20) before damaged magic is damage, not truncation.
  if (tail[0] === 0x02 && tail.readBigUInt64LE(1) === 20n) fail('corrupt MCAP file (damaged magic at end of file)');
  return 'truncated';
}
