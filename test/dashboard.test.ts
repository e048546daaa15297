// The fine-tuning dashboard as a user opens it: one HTML file with every plot rendered to SVG, and the learning
// curve as a PNG; shares (interventions, |u|) read in percent and rounds as whole numbers, even in a 3-round run.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeDashboard } from '../src/rl/dashboard.js';
import type { EvalLine, RoundLine } from '../src/rl/metric-lines.js';

const tmp = await mkdtemp(join(tmpdir(), 'vla-dashboard-'));
after(() => rm(tmp, { recursive: true, force: true }));

function round(r: number): RoundLine {
  const metrics = {
    ...{ critic_loss: 0.1, q_mean: 0.2, actor_loss: -0.1, entropy: -3, temperature: 0.01 },
    ...{ critic_grad_norm: 0.5, actor_grad_norm: 0.4, bc_loss: Number.NaN },
  };
  return {
    ...{ type: 'round', round: r, wall_s: 10 * r, episodes: 4 * r, env_ticks: 1000 * r, updates: 300 * r },
    ...{ train_success: 0.5, train_success_last50: 0.5, episode_ticks_mean: 250, metrics },
    ...{ residual_abs_u: [0.1, 0.2], intervention_rate: 0, updates_per_s: 30, env_ticks_per_s: 3000 },
    lr: { critic: 3e-4, actor: 3e-4 },
  };
}

test('every plot renders; shares in percent, rounds whole; the learning curve as a PNG', async () => {
  const rounds = [1, 2, 3].map(round);
  const evals: EvalLine[] = [
    {
      ...{ type: 'eval', round: 2, wall_s: 20, env_ticks: 2000, successes: 3, episodes: 4, success: 0.75 },
      ...{ ci95: [0.3, 0.95], best: { round: 2, success: 0.75 }, verdict: 'best' },
    },
  ];
  await writeDashboard(tmp, 'tiny', rounds, evals, ['shoulder', 'gripper']);
  const html = await readFile(join(tmp, 'dashboard.html'), 'utf8');
  assert.equal(html.match(/<svg/g)?.length, 8, 'two learning curves and six metric plots');
  assert.match(html, /Intervention rate/);
  assert.ok(html.includes('>100%<') && html.includes('>0%<'), 'the shares read in percent');
  assert.ok(!html.includes('>0.000000<'), 'no axis label of zeros to six places');
  const ticks = [...html.matchAll(/X-axis titled 'round' for a linear scale with values from (\S+) to (\S+)"/g)];
  assert.ok(ticks.length >= 6, 'every metric plot runs over rounds');
  assert.ok(!/>1\.5</.test(html) && !/>2\.5</.test(html), 'no half rounds on the axis');
  const png = await readFile(join(tmp, 'success.png'));
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], 'a PNG');
});
