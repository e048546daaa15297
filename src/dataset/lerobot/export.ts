// Recorded episodes (anything that reads into an Episode: MCAP files, another dataset) to a LeRobotDataset v3.0
// folder. Episodes are read one at a time, frames included. The folder must be empty (or absent) unless `force`,
// which replaces what a dataset consists of (meta/, data/, videos/) and leaves anything else there alone. An export
// that fails part way stops its ffmpeg processes and removes what it wrote.
import { readdir, rm, rmdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Episode } from '../../recording/episode-reader.js';
import { mismatch, SchemaMismatch, schemaOf } from './export-schema.js';
import { CODEBASE_VERSION } from './layout.js';
import { CODEC_SETTINGS, type VideoCodecName } from './video.js';
import { DatasetWriter, type WriterOptions } from './writer.js';

/** Bad input to an export (a folder in the way, episodes that do not belong together): nothing was written. */
export class ExportError extends Error {
  override readonly name = 'ExportError';
}

/** Where an episode comes from: src/replay's EpisodeSource fits. */
export interface ExportSource {
  label: string;
  origin: string;
  read(opts: { frames: boolean }): Promise<Episode>;
}

export interface ExportOptions extends Partial<WriterOptions> {
  force?: boolean;
  /** Called after each episode. */
  onEpisode?: (done: number, total: number, label: string) => void;
}

export interface ExportSummary {
  out: string;
  codebase_version: string;
  robot: string;
  fps: number;
  episodes: number;
  frames: number;
  cameras: string[];
  video_codec: VideoCodecName;
  video_encoder: string;
  bytes: number;
  files: string[];
  /** Episodes left out because they hold no tick (LeRobot has no empty episodes). */
  empty: string[];
}

const DATASET_PARTS = ['meta', 'data', 'videos'];

export async function exportLeRobot(
  sources: readonly ExportSource[],
  outDir: string,
  opts: ExportOptions = {},
): Promise<ExportSummary> {
  const out = resolve(outDir);
  const codec = opts.codec ?? 'lossless';
  if (sources.length === 0) throw new ExportError('no episodes to export');
  const existed = await prepareFolder(out, opts.force === true);
  let writer: DatasetWriter | undefined;
  const empty: string[] = [];
  try {
    for (const [i, source] of sources.entries()) {
      const ep = await source.read({ frames: true });
      if (ep.ticks === 0) {
        empty.push(source.label);
        opts.onEpisode?.(i + 1, sources.length, source.label);
        continue;
      }
      if (!writer) {
        try {
          writer = new DatasetWriter(out, schemaOf(ep), { ...opts, codec });
        } catch (err) {
          if (err instanceof SchemaMismatch) throw new ExportError(`${source.label}: ${err.message}`);
          throw err;
        }
      }
      const differs = mismatch(writer.schema, ep);
      if (differs) {
        throw new ExportError(`${source.label}: ${differs}; one dataset holds episodes of one robot set-up`);
      }
      await writer.add(ep, source.origin);
      opts.onEpisode?.(i + 1, sources.length, source.label);
    }
    if (!writer) throw new ExportError(`no episode with a tick in ${sources.map((s) => s.label).join(', ')}`);
    const files = await writer.finish(codec);
    let bytes = 0;
    for (const f of files) bytes += (await stat(f)).size;
    return {
      out,
      codebase_version: CODEBASE_VERSION,
      robot: writer.schema.robot,
      fps: writer.schema.fps,
      episodes: writer.episodes,
      frames: writer.frames,
      cameras: writer.schema.cameras.map((c) => c.name),
      video_codec: codec,
      video_encoder: CODEC_SETTINGS[codec].label,
      bytes,
      files,
      empty,
    };
  } catch (err) {
    await writer?.abort();
    await removeParts(out, existed);
    throw err;
  }
}

/** Checks the output folder; returns whether it existed. */
async function prepareFolder(out: string, force: boolean): Promise<boolean> {
  const info = await stat(out).catch(() => undefined);
  if (info && !info.isDirectory()) throw new ExportError(`${out}: exists and is not a folder`);
  if (!info) return false;
  const entries = await readdir(out);
  if (entries.length > 0 && !force) {
    throw new ExportError(`${out}: the folder is not empty (${entries.slice(0, 5).join(', ')}); --force replaces it`);
  }
  for (const part of DATASET_PARTS) await rm(join(out, part), { recursive: true, force: true });
  return true;
}

async function removeParts(out: string, existed: boolean): Promise<void> {
  for (const part of DATASET_PARTS) await rm(join(out, part), { recursive: true, force: true }).catch(() => {});
  if (!existed) await rmdir(out).catch(() => {});
}
