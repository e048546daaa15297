// Reads what a recording whose writer never finished (a killed process, a power cut, a full disk) left on disk:
// no summary and no footer, but a header, the channels, the `vla.episode.start` metadata and whole-tick chunks
// (episode-writer.ts). The file is read front to back with @mcap/core's stream reader up to the last complete
// record; ticks are kept up to the last one that has both its /joint_state and its /action. A file with no start
// record (older writers, another program) or no complete tick is refused, as before.
import type { FileHandle } from 'node:fs/promises';
import { McapStreamReader, type McapTypes } from '@mcap/core';
import { DECOMPRESS_HANDLERS } from './chunk-compression.js';
import type { Episode } from './episode-reader.js';
import { reasonOf } from './errors.js';
import {
  cameraTopic,
  type DecodedMetadata,
  decodeEpisodeMetadata,
  EPISODE_METADATA_NAME,
  EPISODE_START_METADATA_NAME,
  IMAGE_MESSAGE_ENCODING,
  TOPIC_ACTION,
  TOPIC_JOINT_STATE,
} from './schemas.js';
import { TickAssembler } from './tick-assembler.js';

/** What a recovered episode says about itself (Episode.recovered). */
export interface RecoveredInfo {
  complete_ticks: number;
  /** The tick number of the last complete tick. */
  last_tick: number;
  /** Why the file needed recovering, in words. */
  reason: string;
}

export const TRUNCATED = 'truncated MCAP file (no footer; was the recording interrupted?)';
const NO_SUMMARY = 'the file ends without its summary (the writer did not finish)';
const BLOCK_BYTES = 4 << 20;

interface Found {
  channels: Map<number, McapTypes.Channel>;
  start?: Map<string, string>;
  final?: Map<string, string>;
  messages: { channelId: number; logTime: bigint; data: Uint8Array }[];
  /** Where and why reading stopped before the end of the file (damage), if it did. */
  damage?: string;
}

/** The one line a tool prints (or logs) about a recovered episode. */
export function recoveredLine(ep: Pick<Episode, 'meta' | 'recovered'>): string {
  const r = ep.recovered;
  if (!r) return '';
  return (
    `recovered: ${r.reason}; ${r.complete_ticks} complete ticks of episode seed ${ep.meta.seed} ` +
    `up to tick ${r.last_tick}`
  );
}

export async function recoverEpisode(
  path: string,
  fh: FileHandle,
  size: number,
  wantFrames: boolean,
  fail: (problem: string) => never,
): Promise<Episode> {
  const found = await scan(fh, size, wantFrames);
  const metaMap = found.final ?? found.start;
  if (!metaMap) fail(`${TRUNCATED}, and it has no "${EPISODE_START_METADATA_NAME}" record to recover it from`);
  let decoded: DecodedMetadata;
  try {
    decoded = decodeEpisodeMetadata(metaMap!);
  } catch (err) {
    return fail(`${TRUNCATED}; bad "${EPISODE_START_METADATA_NAME}" metadata: ${reasonOf(err)}`);
  }
  const { meta } = decoded;
  const kinds = new Map<number, string>();
  const cameras = new Map(meta.cameras.map((c) => [cameraTopic(c.name), c.name]));
  for (const ch of found.channels.values()) {
    if (ch.topic === TOPIC_JOINT_STATE || ch.topic === TOPIC_ACTION) {
      kinds.set(ch.id, ch.topic === TOPIC_JOINT_STATE ? 'joint' : 'action');
    } else if (wantFrames && cameras.has(ch.topic) && ch.messageEncoding === IMAGE_MESSAGE_ENCODING) {
      kinds.set(ch.id, `camera:${cameras.get(ch.topic)}`);
    }
  }
  const messages = found.messages.filter((m) => kinds.has(m.channelId));
  const ticks = completePrefix(messages, kinds);
  if (ticks.count === 0) fail(`${TRUNCATED}; no complete tick was written before it ended`);
  const asm = new TickAssembler(meta, ticks.count, wantFrames);
  for (const m of messages.slice(0, ticks.messages)) {
    const kind = kinds.get(m.channelId)!;
    const problem = asm.add(kind, m.logTime, m.data, kind.startsWith('camera:') ? IMAGE_MESSAGE_ENCODING : 'json');
    if (problem !== undefined) fail(`${TRUNCATED}; ${problem}`);
  }
  const problem = asm.finish();
  if (problem !== undefined) fail(`${TRUNCATED}; ${problem}`);
  // the final record survives when the writer died inside its summary; it then says how the episode ended
  const ended = found.final !== undefined && decoded.ticks === ticks.count;
  const reason = found.damage ? `${NO_SUMMARY}; ${found.damage}` : NO_SUMMARY;
  const frames = asm.episodeFrames();
  return {
    path,
    meta,
    format_version: decoded.format_version,
    success: ended ? decoded.success : false,
    outcome: ended ? decoded.outcome : 'interrupted',
    fault: ended ? decoded.fault : `recording cut short: ${NO_SUMMARY}`,
    ticks: ticks.count,
    tick: asm.tick,
    stamp_ns: asm.stamp_ns,
    t_mono_ms: asm.t_mono_ms,
    position_rad: asm.position_rad,
    velocity_rad_s: asm.velocity_rad_s,
    gripper: asm.gripper,
    action: asm.action,
    frames,
    recovered: { complete_ticks: ticks.count, last_tick: asm.tick[ticks.count - 1]!, reason },
  };
}

/**
 * How many leading messages make whole ticks (both /joint_state and /action at one log time), and how many
 * ticks that is. Chunks end on tick boundaries, so normally every tick read is whole; a tick cut apart (an
 * older writer's chunking, damage) ends the prefix.
 */
function completePrefix(messages: Found['messages'], kinds: Map<number, string>): { count: number; messages: number } {
  let count = 0;
  let end = 0;
  for (let i = 0; i < messages.length; ) {
    const t = messages[i]!.logTime;
    let joint = 0;
    let action = 0;
    let j = i;
    for (; j < messages.length && messages[j]!.logTime === t; j++) {
      const kind = kinds.get(messages[j]!.channelId);
      if (kind === 'joint') joint++;
      else if (kind === 'action') action++;
    }
    if (joint === 0 || action === 0) break;
    count++;
    end = j;
    i = j;
  }
  return { count, messages: end };
}

/** Every record up to the last complete one (or the first damaged one), read in blocks. */
async function scan(fh: FileHandle, size: number, wantFrames: boolean): Promise<Found> {
  const reader = new McapStreamReader({ decompressHandlers: DECOMPRESS_HANDLERS });
  const found: Found = { channels: new Map(), messages: [] };
  const block = Buffer.allocUnsafe(Math.min(BLOCK_BYTES, Math.max(1, size)));
  let fed = 0;
  while (fed < size) {
    const { bytesRead } = await fh.read(block, 0, Math.min(block.length, size - fed), fed);
    if (bytesRead === 0) break;
    fed += bytesRead;
    try {
      reader.append(block.subarray(0, bytesRead));
      for (let rec = reader.nextRecord(); rec; rec = reader.nextRecord()) take(rec, found, wantFrames);
    } catch (err) {
      // a record that parses but is wrong (a CRC, a length): what comes before it is still good
      const at = fed - reader.bytesRemaining();
      found.damage = `damaged data near byte ${at} ends what can be read (${reasonOf(err).replace(/ \[.*\]$/, '')})`;
      break;
    }
  }
  return found;
}

function take(rec: McapTypes.TypedMcapRecord, found: Found, wantFrames: boolean): void {
  switch (rec.type) {
    case 'Channel':
      found.channels.set(rec.id, rec);
      return;
    case 'Metadata':
      if (rec.name === EPISODE_START_METADATA_NAME) found.start ??= rec.metadata;
      else if (rec.name === EPISODE_METADATA_NAME) found.final ??= rec.metadata;
      return;
    case 'Message': {
      const topic = found.channels.get(rec.channelId)?.topic;
      const state = topic === TOPIC_JOINT_STATE || topic === TOPIC_ACTION;
      if (!state && !wantFrames) return;
      // a copy: the data may be a view into the stream reader's buffer, which the next block overwrites
      found.messages.push({ channelId: rec.channelId, logTime: rec.logTime, data: rec.data.slice() });
      return;
    }
    default:
  }
}
