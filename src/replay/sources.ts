// Where recorded episodes come from: MCAP files, folders of them, or a LeRobot dataset folder. Every
// replay command lists its inputs here and reads each episode when it gets to it (a dataset of a thousand
// episodes is never held in memory at once). Episodes come back in one type, the recording's `Episode`,
// so evaluation and replay do not care where they were stored.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DatasetMappingError,
  isDatasetFolder,
  type LeRobotDataset,
  openDataset,
  planRead,
  type ReadPlan,
  readDatasetEpisode,
} from '../dataset/lerobot/index.js';
import { type Episode, readEpisode, recoveredLine } from '../recording/index.js';
import { naturalOrder } from '../util/natural-order.js';

export interface EpisodeSource {
  /** What a user recognises in a report: the file name, or `<dataset>#<episode index>`. */
  label: string;
  /** The file or folder to name in an error about this episode. */
  origin: string;
  read(opts: { frames: boolean }): Promise<Episode>;
}

/** Feature-name mapping for foreign datasets (`--map observation.images.top=top`, ...). */
export type FeatureMap = Record<string, string>;

export interface SourceOptions {
  map?: FeatureMap;
  /** The robot a dataset that does not name one (or names it differently) was recorded on. */
  robot?: string;
  /**
   * Told once per file whose writer did not finish (only its complete ticks are used): the "recovered: ..." line,
   * prefixed with the file; default: a warning line on stderr.
   */
  warn?: (message: string) => void;
}

/** A bad input path: nothing to read, or not a kind of recording we know. Exit 2. */
export class EpisodeSourceError extends Error {}

export async function listEpisodeSources(inputs: string[], opts: SourceOptions = {}): Promise<EpisodeSource[]> {
  const out: EpisodeSource[] = [];
  for (const input of inputs) out.push(...(await sourcesOf(input, opts)));
  if (out.length === 0) throw new EpisodeSourceError(`no episodes in ${inputs.join(', ')}`);
  return out;
}

async function sourcesOf(input: string, opts: SourceOptions): Promise<EpisodeSource[]> {
  const info = await stat(input).catch(() => undefined);
  if (!info) throw new EpisodeSourceError(`${input}: no such file or folder`);
  if (info.isFile()) {
    if (!input.endsWith('.mcap')) throw new EpisodeSourceError(`${input}: not an .mcap recording`);
    return [mcapSource(input, opts)];
  }
  if (await isDatasetFolder(input)) return datasetSources(input, opts);
  const names = (await readdir(input)).filter((n) => n.endsWith('.mcap')).sort(naturalOrder);
  if (names.length === 0) throw new EpisodeSourceError(`${input}: no .mcap episodes and no LeRobot dataset`);
  return names.map((n) => mcapSource(join(input, n), opts));
}

/**
 * One recording. A file cut short (killed writer, full disk) gives its complete ticks, and the replay says so once
 * (it may be read several times: checked, then replayed); what is unusable is still an EpisodeFileError.
 */
function mcapSource(path: string, opts: SourceOptions): EpisodeSource {
  const label = path.split(/[\\/]/).pop() ?? path;
  const warn = opts.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
  let told = false;
  const read = async (o: { frames: boolean }) => {
    const ep = await readEpisode(path, { frames: o.frames });
    if (ep.recovered && !told) {
      told = true;
      warn(`${path}: ${recoveredLine(ep)}`);
    }
    return ep;
  };
  return { label, origin: path, read };
}

/**
 * A LeRobot dataset folder (meta/info.json): one source per episode, read on demand. The dataset's index is read
 * and its features mapped to the robot now, so a dataset that does not fit is refused before any episode runs; a
 * damaged metadata file is an EpisodeFileError naming it.
 */
async function datasetSources(dir: string, opts: SourceOptions): Promise<EpisodeSource[]> {
  let ds: LeRobotDataset;
  let plan: ReadPlan;
  try {
    ds = await openDataset(dir);
    plan = await planRead(ds, opts);
  } catch (err) {
    if (err instanceof DatasetMappingError) throw new EpisodeSourceError(err.message, { cause: err });
    throw err;
  }
  if (ds.episodes.length === 0) throw new EpisodeSourceError(`${dir}: the LeRobot dataset has no episodes`);
  return ds.episodes.map((ref) => ({
    label: `${ds.name}#${ref.index}`,
    origin: ds.root,
    read: (o) => readDatasetEpisode(ds, plan, ref, o),
  }));
}
