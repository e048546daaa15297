// What vla-replay sim writes with --out: per episode a PNG of every joint's trajectory, recorded and replayed
// overlaid (the gripper's opening too), and one HTML page with the table of all episodes and those plots.
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { htmlReport, type PlotSpec, type ReportSection, renderSvg, svgToPng } from '../../plot/index.js';
import type { EpisodeReplay, Trajectories } from './replay-episode.js';

export interface ReplayFiles {
  html: string;
  png: string[];
}

/** A label per episode for file names: the recording's name without .mcap. */
export function episodeName(r: Pick<EpisodeReplay, 'file'>): string {
  return basename(r.file).replace(/\.mcap$/, '');
}

export async function writeReplayReport(dir: string, title: string, results: EpisodeReplay[]): Promise<ReplayFiles> {
  await mkdir(dir, { recursive: true });
  const png: string[] = [];
  const sections: ReportSection[] = [{ heading: 'Episodes', table: episodeTable(results) }];
  for (const r of results) {
    if (!r.trajectories) continue;
    const spec = trajectorySpec(r.trajectories);
    const path = join(dir, `${episodeName(r)}.png`);
    await writeFile(path, svgToPng(await renderSvg(spec)));
    png.push(path);
    sections.push({ heading: episodeName(r), note: episodeNote(r), plot: spec });
  }
  const html = join(dir, 'replay-sim.html');
  const intro =
    'Each plot shows every joint (rad) and gripper (opening, 0 closed .. 1 open) over the episode: the recording ' +
    'and the replay from the same start. The table gives the largest difference and the first tick over the threshold.';
  await writeFile(html, await htmlReport(title, intro, sections));
  return { html, png };
}

function episodeTable(results: EpisodeReplay[]): { columns: string[]; rows: (string | number)[][] } {
  return {
    columns: [
      'episode',
      'recorded',
      'replay',
      'time to success (s) rec / replay',
      'max divergence (rad)',
      'first over threshold',
      'commands differing',
    ],
    rows: results.map((r) => [
      episodeName(r),
      `${r.recorded.outcome} (${r.recorded.ticks} ticks)`,
      `${r.replay.end} (${r.replay.ticks} ticks)`,
      `${time(r.recorded.success_time_s)} / ${time(r.replay.success_time_s)}`,
      r.divergence.max_abs_rad.toExponential(2),
      r.divergence.first_tick_over === null
        ? 'none'
        : `${r.divergence.first_over} at tick ${r.divergence.first_tick_over}`,
      r.commands ? `${r.commands.differing} of ${r.commands.compared}` : '-',
    ]),
  };
}

const time = (s: number | null) => (s === null ? '-' : s.toFixed(2));

function episodeNote(r: EpisodeReplay): string {
  const parts = [
    `${r.robot} ${r.task} seed ${r.seed}, recorded on ${r.recorded_on}; replay: ${r.policy} from the ${r.start.from}.`,
  ];
  if (r.replay.fault) parts.push(`Fault: ${r.replay.fault}.`);
  for (const w of r.warnings) parts.push(`Warning: ${w}.`);
  return parts.join(' ');
}

/** One small plot per joint, the recording and the replay in two colours, the time axis in seconds. */
export function trajectorySpec(t: Trajectories): PlotSpec {
  const hz = t.control_hz;
  const W = t.names.length;
  const values: { t_s: number; joint: string; run: string; value: number }[] = [];
  const add = (run: string, ticks: number[], v: number[]) => {
    ticks.forEach((k, row) => {
      for (let i = 0; i < W; i++) values.push({ t_s: k / hz, joint: t.names[i], run, value: v[row * W + i] });
    });
  };
  add('recorded', t.recorded.tick, t.recorded.values);
  add('replay', t.replay.tick, t.replay.values);
  return {
    data: { values },
    facet: { field: 'joint', type: 'nominal', title: null, sort: t.names },
    columns: 2,
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 360,
      height: 110,
      encoding: {
        x: { field: 't_s', type: 'quantitative', title: 'time (s)' },
        y: { field: 'value', type: 'quantitative', title: 'rad; gripper 0..1', scale: { zero: false } },
        color: {
          field: 'run',
          type: 'nominal',
          title: null,
          scale: { domain: ['recorded', 'replay'], range: ['#9ecae1', '#e6550d'] },
        },
      },
      // the recording wide and pale under the replay: where they agree, one is seen inside the other
      layer: [
        { transform: [{ filter: "datum.run === 'recorded'" }], mark: { type: 'line', strokeWidth: 4 } },
        { transform: [{ filter: "datum.run === 'replay'" }], mark: { type: 'line', strokeWidth: 1.2 } },
      ],
    },
  } as PlotSpec;
}
