// An on-robot fine-tuning session in real time (VLA_BENCH_ONLY=rl-robot; long: only when asked for by name):
// `vla-sim serve --robot ur5e` in a process of its own, as a user runs it, and `vla-finetune --rosbridge` against
// it from the shipped ur5e pick-place model with the scripted operator, for a fixed session time. Reports the
// training success of the last 50 episodes and the intervention rate against session time (from the run's
// metrics.jsonl), when the last-50 success first reached 90%, and the command that reproduces it; the run folder
// keeps its dashboard (success and intervention rate plotted).
//   VLA_BENCH_RL_ROBOT_MIN   session minutes (default 45)
//   VLA_BENCH_RL_ROBOT_DIR   where the run folder goes (default a temporary folder, kept)
//   VLA_BENCH_RL_ROBOT_EVAL  then, against the same endpoint, held-out episodes of the session's residual alone
//                            (deterministic, no operator) and of the base alone on the same seeds (default 60; 0: none)
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;
const RECIPE = [
  '--operator',
  'scripted',
  '--takeover-deg',
  '3',
  '--bound-ramp-rounds',
  '30',
  '--bc-weight',
  '1',
  '--actor-lr',
  '3e-4',
  '--residual-penalty',
  '0',
  '--actor-delay-updates',
  '1000',
];

// The endpoint's cameras as the model sees them: 64 px frames (its input size) at 30 Hz (serve's default rate). At
// 10 Hz, serve's old default, the policy sees frames up to 100 ms older than its joint states, and the shipped model
// scores less: 9/30 at 10 Hz vs 16/30 at 30 Hz (vla-run over rosbridge, seeds 0-29, at 224 and at 64 px alike).
const CAMERAS = ['--camera-size', '64', '--camera-hz', '30'];

interface RoundRow {
  round: number;
  wall_min: number;
  episodes: number;
  success_last50: number;
  intervention_rate: number;
}

export async function benchmarkRlRobot(log: (m: string) => void): Promise<object> {
  const minutes = Number(process.env.VLA_BENCH_RL_ROBOT_MIN ?? 45);
  const dir = process.env.VLA_BENCH_RL_ROBOT_DIR ?? (await mkdtemp(join(tmpdir(), 'vla-rl-robot-')));
  const port = await freePort();
  const url = `ws://127.0.0.1:${port}`;
  const serve = spawn(
    process.execPath,
    [`${ROOT}bin/vla-sim.js`, 'serve', '--robot', 'ur5e', '--rosbridge', `${port}`, ...CAMERAS],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  try {
    await waitForLine(serve, /endpoint ready/, 30_000);
    const args = [
      '--robot',
      'ur5e',
      '--rosbridge',
      url,
      '--base',
      `${ROOT}models/ur5e-pick-place.onnx`,
      '--run',
      'bench',
      '--runs-dir',
      dir,
      ...RECIPE,
      '--minutes',
      `${minutes}`,
      '--json',
    ];
    log(`rl-robot: ${minutes} min session against ${url}, run folder ${dir}/bench`);
    const r = await run(process.execPath, [`${ROOT}bin/vla-finetune.js`, ...args], log);
    if (r.code !== 0) throw new Error(`vla-finetune exited ${r.code}: ${r.stderr.slice(-2000)}`);
    const rows = await roundRows(join(dir, 'bench'));
    const evalEpisodes = Number(process.env.VLA_BENCH_RL_ROBOT_EVAL ?? 60);
    const summary = JSON.parse(r.stdout);
    const reached = rows.find((x) => x.episodes >= 50 && x.success_last50 >= 0.9);
    return {
      command: `vla-sim serve --robot ur5e --rosbridge ${port} ${CAMERAS.join(' ')} & vla-finetune ${args.join(' ')}`,
      summary,
      reached_90pct_last50_at_min: reached ? round2(reached.wall_min) : null,
      last: rows.at(-1) ?? null,
      curve: rows,
      dashboard: join(dir, 'bench', 'dashboard.html'),
      held_out: evalEpisodes > 0 ? await heldOut(url, summary.residual, evalEpisodes, log) : null,
    };
  } finally {
    serve.kill('SIGTERM');
  }
}

/** Training seeds stay below 10000 (finetune-config's train_seed_limit); these never trained. */
const HELD_OUT_SEED = 10000;

/** The residual alone and the base alone, over the same endpoint and seeds: what the session taught, operator aside. */
async function heldOut(url: string, residual: string, episodes: number, log: (m: string) => void): Promise<object> {
  const model = `${ROOT}models/ur5e-pick-place.onnx`;
  const one = async (extra: string[]) => {
    const args = ['--robot', 'ur5e', '--rosbridge', url, '--policy', model, '--episodes', `${episodes}`];
    args.push('--seed', `${HELD_OUT_SEED}`, '--json', ...extra);
    log(`rl-robot: held-out episodes: vla-run ${args.join(' ')}`);
    const r = await run(process.execPath, [`${ROOT}bin/vla-run.js`, ...args], log);
    if (r.code !== 0) throw new Error(`vla-run exited ${r.code}: ${r.stderr.slice(-2000)}`);
    const s = JSON.parse(r.stdout);
    return {
      command: `vla-run ${args.join(' ')}`,
      successes: s.successes,
      episodes: s.scored_episodes,
      ci95: s.success_ci95,
    };
  };
  return {
    seeds: [HELD_OUT_SEED, HELD_OUT_SEED + episodes - 1],
    residual: await one(['--residual', residual]),
    base: await one([]),
  };
}

async function roundRows(runDir: string): Promise<RoundRow[]> {
  const text = await readFile(join(runDir, 'metrics.jsonl'), 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((l) => l.type === 'round')
    .map((l) => ({
      round: l.round,
      wall_min: round2(l.wall_s / 60),
      episodes: l.episodes,
      success_last50: l.train_success_last50,
      intervention_rate: round2(l.intervention_rate),
    }));
}

const round2 = (x: number) => Math.round(x * 100) / 100;

function run(
  cmd: string,
  args: string[],
  log: (m: string) => void,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    const text = d.toString();
    stderr = (stderr + text).slice(-20_000);
    for (const line of text.split('\n')) if (/fine-tuning|round|lost|fault/.test(line)) log(`rl-robot: ${line.trim()}`);
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

function waitForLine(child: ChildProcess, re: RegExp, timeout_ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => reject(new Error(`vla-sim serve said nothing like ${re} in ${timeout_ms} ms`)),
      timeout_ms,
    );
    const look = (d: Buffer) => {
      seen += d.toString();
      if (re.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', look);
    child.stderr?.on('data', look);
    child.once('exit', (code) => reject(new Error(`vla-sim serve exited (${code}): ${seen}`)));
  });
}

function freePort(): Promise<number> {
  return new Promise((res) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => res(p));
    });
  });
}
