// vla-finetune on the ALOHA arms over serial, end to end: the Dynamixel emulator (`vla-sim dynamixel`, X-series
// servos on pseudo-terminals, with its sim link for episodes, success and task state), the learner, and the robot
// actor driving both arms through the real AlohaSerialDriver with the exploring residual and the scripted operator
// in its control thread. No learned ALOHA base model ships: a fixed one stands in (the home pose with the left
// waist turned 17 degrees away: off the expert's path, so the operator steps in), which is what the path needs.
// The emulator has its leader arms too: without --leader-ports the operator's takeover is a bounded correction,
// with them it holds the leader arms at its plan and the followers follow them.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { writeTestPolicy } from '../../src/policy/onnx/model-writer.js';
import { readEpisode } from '../../src/recording/episode-reader.js';
import { vlaRunChild } from './vla-run-child.js';

const BIN = resolve(import.meta.dirname, '../../../bin');
const ASTRAY = [0.3, -0.96, 1.16, 0, -0.3, 0, 0.5, 0, -0.96, 1.16, 0, -0.3, 0, 0.5];

let emu: ChildProcess;
let exited: Promise<number | null>;
type ArmPorts = { left: string; right: string };
let ready: { ports: ArmPorts; sim_link: string; leader_ports: ArmPorts };
let dir: string;
let model: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vla-finetune-aloha-'));
  model = join(dir, 'aloha-home.onnx');
  await writeTestPolicy(model, {
    robot: 'aloha',
    cameras: [{ name: 'top', width: 32, height: 32 }],
    state_dim: 14,
    horizon: 25,
    action_dim: 14,
    mode: 'constant',
    constant: new Array(25 * 14).fill(0),
    action_normalization: { kind: 'mean_std', mean: ASTRAY, std: new Array(14).fill(1) },
  });
  emu = spawn(process.execPath, [join(BIN, 'vla-sim.js'), 'dynamixel', '--robot', 'aloha', '--leaders', '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  exited = new Promise((r) => emu.once('exit', (code) => r(code)));
  const first = await new Promise<string>((res, rej) => {
    createInterface({ input: emu.stdout! }).once('line', res);
    emu.once('exit', (code) => rej(new Error(`emulator exited with ${code}`)));
  });
  ready = JSON.parse(first) as typeof ready;
});

after(async () => {
  if (emu.exitCode === null) emu.kill('SIGTERM');
  await exited;
  await rm(dir, { recursive: true, force: true });
});

test('a short session on the emulated ALOHA rig over serial: figures, checkpoints, recordings', async () => {
  const ports = `left=${ready.ports.left},right=${ready.ports.right}`;
  const args = [
    ...['--robot', 'aloha', '--ports', ports, '--sim-link', ready.sim_link, '--base', model],
    ...['--run', 'aloha', '--runs-dir', dir, '--operator', 'scripted', '--takeover-deg', '3'],
    ...['--episodes', '2', '--episodes-per-round', '2', '--margin', '10', '--json'],
  ];
  const r = await vlaRunChild(args, 180_000, join(BIN, 'vla-finetune.js')).done;
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.match(s.where, /left=.*right=.*sim link/);
  assert.equal(s.episodes, 2);
  assert.equal(s.rounds, 1);
  // the left waist is off the expert's path: the operator steps in
  assert.ok(s.train.intervention_rate > 0, JSON.stringify(s.train));
  const at = join(dir, 'aloha', 'episodes');
  const files = existsSync(at) ? readdirSync(at).filter((f) => f.endsWith('.mcap')) : [];
  assert.equal(files.length, 2, files.join(', '));
  let ticks = 0;
  for (const f of files) ticks += (await readEpisode(join(at, f))).ticks;
  // within a tick per episode of the session's count (the file may hold the tick that ran as the episode ended)
  assert.ok(ticks > 0.95 * s.env_ticks && ticks <= s.env_ticks + 2, `${ticks} of ${s.env_ticks} ticks recorded`);
  assert.ok(existsSync(join(dir, 'aloha', 'checkpoints', 'round-000001')));
  assert.ok(existsSync(join(dir, 'aloha', 'residual.onnx')));
});

test('with leader arms a takeover hands them the followers: the scripted operator holds them at its plan', async () => {
  const ports = `left=${ready.ports.left},right=${ready.ports.right}`;
  const leaders = `left=${ready.leader_ports.left},right=${ready.leader_ports.right}`;
  const args = [
    ...['--robot', 'aloha', '--ports', ports, '--leader-ports', leaders, '--sim-link', ready.sim_link],
    ...['--base', model, '--run', 'leaders', '--runs-dir', dir, '--operator', 'scripted', '--takeover-deg', '3'],
    ...['--episodes', '2', '--episodes-per-round', '2', '--margin', '10', '--json'],
  ];
  const r = await vlaRunChild(args, 180_000, join(BIN, 'vla-finetune.js')).done;
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.ok(s.train.intervention_rate > 0, JSON.stringify(s.train));
  const said = [...r.stderr.matchAll(/the leader arms had the followers for (\d+) ticks?/g)].map((m) => Number(m[1]));
  assert.equal(said.length, 2, r.stderr);
  assert.ok(
    said.every((n) => n > 0),
    r.stderr,
  );
  // the base holds the left waist at 0.3 rad, off the plan (0); a bounded correction (3 degrees) leaves the command
  // at 0.248 or more: only the leaders, held at the plan, can have brought it below 0.15
  const at = join(dir, 'leaders', 'episodes');
  for (const f of readdirSync(at).filter((x) => x.endsWith('.mcap'))) {
    const e = await readEpisode(join(at, f));
    let onPlan = 0;
    for (let t = 0; t < e.ticks; t++) if (e.action[t * 14] < 0.15) onPlan++;
    assert.ok(onPlan > e.ticks / 2, `${f}: ${onPlan} of ${e.ticks} commands on the plan`);
  }
});
