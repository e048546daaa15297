// vla-replay export --to lerobot: recorded episodes (MCAP files, folders of them, or a LeRobot dataset) written as a
// LeRobotDataset v3.0 folder that LeRobot loads and that reads back here identical to the recordings: state, action,
// velocities, tick times and outcome in extra vla.* columns, frames in lossless RGB H.264 unless --video-codec says
// otherwise.
import type { Command } from 'commander';
import {
  DEFAULT_GOP,
  ExportError,
  type ExportSummary,
  exportLeRobot,
  VIDEO_CODECS,
  type VideoCodecName,
} from '../../dataset/lerobot/index.js';
import { EpisodeFileError } from '../../recording/index.js';
import { EpisodeSourceError, type FeatureMap, listEpisodeSources } from '../../replay/sources.js';
import { progress } from '../../telemetry/progress.js';
import { choice, EXIT, intArg, UsageError } from '../common.js';

const FORMATS = ['lerobot'] as const;

const EXAMPLES = `
Examples:
  vla-replay export --to lerobot demos/ datasets/ur5e-pick-place
  vla-replay export --to lerobot demos/ur5e-pick-place-seed1.mcap demos/ur5e-pick-place-seed2.mcap out/
  vla-replay export --to lerobot demos/ small/ --video-codec h264 --json
  vla-replay export --to lerobot old-v21-dataset/ new/ --robot aloha     # re-export a LeRobot dataset as v3.0

What goes where (LeRobotDataset v3.0):
  meta/info.json           fps, robot_type, features (dtype, shape, names), path templates, totals
  meta/stats.json          per feature min, max, mean, std, count, q01..q99 (images per channel in [0, 1])
  meta/tasks.parquet       task strings (pandas index "task") and task_index
  meta/episodes/...        per episode: length, tasks, data and video file and range, stats/*, vla/episode
  data/chunk-000/...       per frame: observation.state, action (float32), timestamp, indexes, and vla.* (float64
                           positions, velocities, grippers, actions; tick, stamp_ns, t_mono_ms)
  videos/<key>/chunk-000/  one mp4 per camera, episodes one after the other

Video: lossless by default (libx264rgb -qp 0, rgb24: frames read back byte-identical; LeRobot's decoders,
torchcodec and PyAV, are FFmpeg and read it). --video-codec h264 or av1: yuv420p, crf 30, as LeRobot encodes;
smaller, not identical (av1 is libaom here: slow).

Exit codes: 0 written, 2 bad usage or input (a folder that is not empty without --force, an unreadable recording,
episodes of different robots, rates or cameras).`;

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('Write recorded episodes as a LeRobotDataset v3.0 folder (LeRobot loads it; it reads back identical).')
    .argument('<paths...>', 'episodes (MCAP files, folders of them, a LeRobot dataset), then the output folder')
    .requiredOption('--to <format>', `output format: ${FORMATS.join(', ')}`)
    .option('--video-codec <codec>', `${VIDEO_CODECS.join(' | ')}`, 'lossless')
    .option(
      '--gop <frames>',
      'frames between keyframes (LeRobot encodes with 2: cheap random access)',
      String(DEFAULT_GOP),
    )
    .option('--force', 'write into a folder that is not empty (replaces its meta/, data/ and videos/)')
    .option('--robot <name>', 'with a LeRobot dataset as input: the robot it was recorded on, when it does not say')
    .option(
      '--map <feature=name,...>',
      'with a LeRobot dataset as input: which feature feeds which camera (observation.images.cam_high=top), or ' +
        'state, action, velocity',
    )
    .option('--json', 'print one JSON object on stdout')
    .addHelpText('after', EXAMPLES)
    .action(async (paths: string[], o: Record<string, string | boolean | undefined>) => runExport(paths, o));
}

async function runExport(paths: string[], o: Record<string, string | boolean | undefined>): Promise<void> {
  choice('--to format', String(o.to), FORMATS);
  if (paths.length < 2) throw new UsageError('give the episodes to export and, last, the output folder');
  const out = paths[paths.length - 1];
  const inputs = paths.slice(0, -1);
  const codec = choice('--video-codec', String(o.videoCodec), VIDEO_CODECS) as VideoCodecName;
  const gop = intArg('--gop', String(o.gop), 1, 600);
  const json = o.json === true;
  const map = o.map === undefined ? undefined : mapArg(String(o.map));
  const sources = await listEpisodeSources(inputs, { map, robot: o.robot as string | undefined }).catch(badInput);
  const bar = progress('exporting', { unit: 'episodes', json });
  let summary: ExportSummary;
  try {
    summary = await exportLeRobot(sources, out, {
      codec,
      gop,
      force: o.force === true,
      onEpisode: (done, total, label) => bar.update(done, total, label),
    }).catch(badInput);
  } finally {
    bar.end();
  }
  process.exitCode = EXIT.ok;
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...summary, exit_code: EXIT.ok })}\n`);
    return;
  }
  const cams = summary.cameras.length > 0 ? summary.cameras.join(', ') : 'no cameras';
  process.stdout.write(
    `exported ${summary.episodes} episode${summary.episodes === 1 ? '' : 's'} (${summary.frames} frames at ` +
      `${summary.fps} Hz, ${summary.robot}, ${cams}) to ${summary.out}\n` +
      `  LeRobotDataset ${summary.codebase_version}, ${summary.files.length} files, ${mb(summary.bytes)}\n` +
      `  video ${summary.video_encoder}\n` +
      (summary.empty.length > 0 ? `  left out ${summary.empty.length} empty: ${summary.empty.join(', ')}\n` : ''),
  );
}

/** The input's fault, not ours: one line, exit 2. */
function badInput(err: unknown): never {
  if (err instanceof EpisodeSourceError || err instanceof ExportError || err instanceof EpisodeFileError) {
    throw new UsageError(err.message);
  }
  throw err;
}

function mapArg(spec: string): FeatureMap {
  const map: FeatureMap = {};
  for (const part of spec.split(',').map((s) => s.trim())) {
    const [k, v, extra] = part.split('=');
    if (!k || !v || extra !== undefined) {
      throw new UsageError(`--map: expected feature=name pairs separated by commas, got '${part}'`);
    }
    map[k.trim()] = v.trim();
  }
  return map;
}

const mb = (bytes: number): string =>
  bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(0)} kB`;
