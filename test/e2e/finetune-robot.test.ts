// vla-finetune on a UR through rosbridge, end to end against the simulated endpoint in real time: the learner in
// one process, the robot actor in another (its control thread runs the exploring residual and the scripted
// operator), talking the fine-tuner's ZeroMQ protocol. A short session completes, records every episode and
// resumes; Ctrl-C holds the robot mid-episode and leaves a resumable checkpoint; an actor with no learner exits 2
// before anything moves; a learner killed mid-session and restarted with --resume finds its actor again; a robot
// endpoint that goes away for longer than the fault timeout is waited for, and the session goes on.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { McapIndexedReader } from '@mcap/core';
import { UrEndpoint } from '../../sim/rosbridge/ur-endpoint.js';
import { DECOMPRESS_HANDLERS } from '../../src/recording/chunk-compression.js';
import { readEpisode } from '../../src/recording/episode-reader.js';
import { FileReadable } from '../../src/recording/file-io.js';
import { TOPIC_RL_DECISION } from '../../src/recording/index.js';
import { DhChain, loadRobot } from '../../src/robot/index.js';
import { type VlaRunChild, vlaRunChild } from './vla-run-child.js';

const BIN = resolve(import.meta.dirname, '../../../bin/vla-finetune.js');
const finetune = (...args: string[]): VlaRunChild => vlaRunChild(args, 240_000, BIN);
/** A shared CI machine stalls now and then: the robot loop keeps a deeper buffer, as the vla-run e2e tests do. */
const MARGIN = '10';

let ep: UrEndpoint;
let dir: string;
before(async () => {
  ep = await UrEndpoint.start({ robot: 'ur5e', port: 0 });
  dir = await mkdtemp(join(tmpdir(), 'vla-finetune-robot-'));
});
after(async () => {
  await ep.stop();
  await rm(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => res(p));
    });
  });
}

const session = (run: string, ...more: string[]) => sessionOn(ep.url, run, ...more);
const sessionOn = (url: string, run: string, ...more: string[]) => [
  '--robot',
  'ur5e',
  '--rosbridge',
  url,
  '--base',
  'models/ur5e-pick-place.onnx',
  '--run',
  run,
  '--runs-dir',
  dir,
  '--operator',
  'scripted',
  '--takeover-deg',
  '3',
  '--episodes-per-round',
  '2',
  '--json',
  ...more,
];

const episodeFiles = (run: string) => {
  const at = join(dir, run, 'episodes');
  return existsSync(at)
    ? readdirSync(at)
        .filter((f) => /^episode-\d{6}-seed\d+\.mcap$/.test(f))
        .map((f) => join(at, f))
    : [];
};

/** The /rl/decision messages of a recorded episode. */
async function decisionsIn(path: string): Promise<{ tick: number; takeover: boolean; u: number[] }[]> {
  const fh = await open(path, 'r');
  try {
    const r = await McapIndexedReader.Initialize({
      readable: new FileReadable(fh, BigInt((await fh.stat()).size)),
      decompressHandlers: DECOMPRESS_HANDLERS,
    });
    const out: { tick: number; takeover: boolean; u: number[] }[] = [];
    for await (const m of r.readMessages({ topics: [TOPIC_RL_DECISION] }))
      out.push(JSON.parse(new TextDecoder().decode(m.data)));
    return out;
  } finally {
    await fh.close();
  }
}

const checkpoints = (run: string) => {
  const at = join(dir, run, 'checkpoints');
  return existsSync(at) ? readdirSync(at).sort() : [];
};

test('a short session on the simulated UR: figures, a checkpoint and a residual; --resume continues it', async () => {
  const r = await finetune(...session('short', '--episodes', '4', '--margin', MARGIN)).done;
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.where, ep.url);
  assert.equal(s.ended, 'budget');
  assert.equal(s.rounds, 2);
  assert.equal(s.episodes, 4, 'no base-only or evaluation episodes on a robot unless asked');
  assert.equal(s.train.episodes, 4);
  // the base strays more than 3 degrees from the expert's plan within an episode: the operator steps in
  assert.ok(s.train.intervention_rate > 0 && s.train.intervention_rate < 1, JSON.stringify(s.train));
  assert.ok(s.env_ticks > 4 * 50, `${s.env_ticks} ticks in 4 real-time episodes`);
  assert.ok(s.updates > 0);
  assert.deepEqual(checkpoints('short'), ['round-000000', 'round-000001', 'round-000002']);
  assert.ok(existsSync(join(dir, 'short', 'residual.onnx')));
  assert.ok(ep.cell.commands_received > s.env_ticks / 2, 'the commands went to the UR over rosbridge');
  // every episode recorded: its ticks, and each residual decision with the operator's takeovers
  const files = episodeFiles('short');
  assert.equal(files.length, 4, files.join(', '));
  let decisions = 0;
  let takeovers = 0;
  let ticks = 0;
  for (const f of files) {
    const d = await decisionsIn(f);
    decisions += d.length;
    takeovers += d.filter((x) => x.takeover).length;
    ticks += (await readEpisode(f)).ticks;
  }
  // every tick with a command is recorded (a tick that wrote nothing, in a hold, is not); the session counts each
  // episode's ticks as its end says, and the file may hold the tick that ran as it ended
  const most = s.env_ticks + files.length;
  assert.ok(ticks <= most && ticks >= 0.95 * s.env_ticks, `${ticks} ticks recorded of ${s.env_ticks}`);
  // a decision every 5 ticks that executed a base action (none while the first chunk is on its way; again at once
  // after a hold)
  assert.ok(decisions >= 0.8 * (ticks / 5) && decisions <= ticks, `${decisions} decisions in ${ticks} ticks`);
  assert.ok(
    // the summary's rate is the mean of the two rounds' rates, the files' the pooled share: close, not equal
    Math.abs(takeovers / decisions - s.train.intervention_rate) < 0.1,
    `${takeovers}/${decisions} takeovers recorded`,
  );

  const again = await finetune('--resume', join(dir, 'short'), '--episodes', '2', '--margin', MARGIN, '--json').done;
  assert.equal(again.code, 0, again.stderr);
  const t = JSON.parse(again.stdout);
  assert.equal(t.rounds, 3, 'the round count continues');
  assert.equal(t.episodes, 6);
  assert.equal(episodeFiles('short').length, 6, 'a resumed session numbers its files on');
});

test('Ctrl-C mid-episode: the robot holds at once, exit 130, a checkpoint to resume from', async () => {
  const run = finetune(...session('ctrl-c', '--episodes', '4', '--margin', MARGIN));
  await run.stderrMatch(/actor ready/);
  await new Promise((r) => setTimeout(r, 2500)); // inside the first episode (each takes 6 s or more)
  const t0 = performance.now();
  process.kill(run.pid, 'SIGINT');
  const r = await run.done;
  const took_s = (performance.now() - t0) / 1000;
  assert.equal(r.code, 130, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.ended, 'interrupted');
  assert.equal(s.episodes, 0, 'the interrupted episode is not learnt from');
  const held = /training episode \(seed \d+\): ended by a fault: interrupted, (\d+) ticks/.exec(r.stderr);
  assert.ok(held, `the actor held inside its first episode: ${r.stderr}`);
  assert.ok(Number(held[1]) < 250, `held at tick ${held[1]}`);
  // a round is two episodes of 6-8 s: an actor that finished them first would take far longer
  assert.ok(took_s < 6, `ended ${took_s.toFixed(1)} s after Ctrl-C`);
  assert.deepEqual(checkpoints('ctrl-c'), ['round-000000']);
  const again = await finetune('--resume', join(dir, 'ctrl-c'), '--episodes', '2', '--margin', MARGIN, '--json').done;
  assert.equal(again.code, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).episodes, 2);
});

test('--operator keyboard: Enter starts each episode; a key or the detector topic judges it', async () => {
  const args = session('keys', '--episodes', '2', '--margin', MARGIN, '--operator', 'keyboard');
  args.push('--success-topic', '/detector/success');
  // and a Cartesian safety box 2 cm around the flange's home position: every command is held inside it
  const desc = await loadRobot('ur5e');
  const chain = new DhChain(desc.dh!);
  const home = chain.flange(desc.home_rad, new Float64Array(3));
  const [x, y, z] = Array.from(home, (v) => [v - 0.02, v + 0.02]);
  await writeFile(join(dir, 'box.json'), JSON.stringify({ flange_m: { x, y, z } }));
  args.push('--workspace-box', join(dir, 'box.json'));
  // a detector's verdict on the endpoint's rosbridge; true already while the scene is reset: that counts for nothing
  const detector = ep.server.advertise('/detector/success', 'std_msgs/Bool', { latch: true });
  detector.publish({ data: true });
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  /** Waits for `re` in stderr after offset `from`; resolves just past where it matched. */
  const seen = async (re: RegExp, from: number): Promise<number> => {
    for (;;) {
      const at = stderr.slice(from).search(re);
      if (at >= 0) return from + at + 1;
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const done = new Promise<number | null>((r) => child.on('close', r));
  let at = await seen(/press Enter/, 0);
  const waiting = ep.cell.commands_received;
  await new Promise((r) => setTimeout(r, 1500));
  const before = ep.cell.commands_received;
  assert.equal(before, waiting, 'nothing is commanded before Enter');
  detector.publish({ data: true });
  await new Promise((r) => setTimeout(r, 300));
  child.stdin.write('\n');
  at = await seen(/running: s success \(or \/detector\/success\)/, at);
  await new Promise((r) => setTimeout(r, 1000));
  assert.doesNotMatch(stderr, /training episode/, 'the true from before the episode ended nothing');
  detector.publish({ data: false });
  detector.publish({ data: true });
  at = await seen(/press Enter/, at);
  child.stdin.write('\n');
  at = await seen(/running: s success/, at);
  // the person takes the arm over: shoulder_lift_joint pushed to the residual's full bound, a key at a time
  for (const [key, said] of [
    ['t', /takeover: you have the arm/],
    [']', /takeover: shoulder_lift_joint \(at 0\.0/],
    ['+', /shoulder_lift_joint at 0\.5/],
    ['+', /shoulder_lift_joint at 1\.0/],
  ] as const) {
    child.stdin.write(key);
    at = await seen(said, at);
  }
  await new Promise((r) => setTimeout(r, 1000));
  child.stdin.write('f');
  assert.equal(await done, 0, stderr);
  const s = JSON.parse(stdout);
  assert.equal(s.episodes, 2);
  assert.equal(s.train.success_last50, 0.5, 'one a success by the detector, one a failure by its key');
  // the second episode's decisions after the takeover were the person's: a good share of that round's
  assert.ok(s.train.intervention_rate > 0.1 && s.train.intervention_rate < 1, JSON.stringify(s.train));
  assert.match(stderr, /takeover: you have the arm/);
  // each ended by its key, about a second in: far shorter than the task's own 6-8 s
  assert.ok(s.env_ticks < 2 * 150, `${s.env_ticks} ticks`);
  assert.ok(ep.cell.commands_received > before);
  assert.match(stderr, /training episode \(seed \d+\): success, \d+ ticks/);
  assert.match(stderr, /training episode \(seed \d+\): failure, \d+ ticks/);
  assert.match(stderr, /the workspace box held [1-9]\d* command\(s\) at its edge/);
  // the arm went as far as the box let it, and no further
  let farthest = 0;
  for (const f of episodeFiles('keys')) {
    const e = await readEpisode(f);
    const A = desc.action_names.length;
    for (let t = 0; t < e.ticks; t++) {
      const p = chain.flange(e.action.subarray(t * A, t * A + 6), new Float64Array(3));
      for (let k = 0; k < 3; k++) {
        assert.ok(p[k] >= [x, y, z][k][0] - 1e-9 && p[k] <= [x, y, z][k][1] + 1e-9, `tick ${t}: flange at ${p}`);
        farthest = Math.max(farthest, Math.abs(p[k] - home[k]));
      }
    }
  }
  assert.ok(farthest > 0.015, `the flange moved ${farthest} m from home: the box was tried`);
  // the takeover's decisions are recorded as such, with the person's correction as it grew: 0, 0.5, then 1
  const taken = (await Promise.all(episodeFiles('keys').map(decisionsIn))).flat().filter((d) => d.takeover);
  const full = taken.filter((d) => d.u[1] === 1);
  assert.ok(full.length >= 5 && taken.at(-1)?.u[1] === 1, JSON.stringify(taken.map((d) => d.u[1])));
  assert.ok(taken.every((d) => [0, 0.5, 1].includes(d.u[1]) && d.u.every((x, i) => i === 1 || x === 0)));
});

test('a robot actor with no learner exits 2 before anything moves', async () => {
  const before = ep.cell.commands_received;
  const port = await freePort();
  const r = await finetune(
    'actor',
    '--learner',
    `tcp://127.0.0.1:${port}`,
    '--rosbridge',
    ep.url,
    '--learner-wait',
    '1',
  ).done;
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /no learner set this actor up within 1 s .*nothing moved/);
  assert.equal(ep.cell.commands_received, before, 'no command reached the UR');
});

test('the learner killed mid-session and restarted with --resume: the robot actor holds, then carries on', async () => {
  const port = await freePort();
  const learner = `tcp://127.0.0.1:${port}`;
  const actor = finetune('actor', '--learner', learner, '--rosbridge', ep.url, '--margin', MARGIN);
  const first = finetune(...session('restart', '--episodes', '8', '--actors', '0', '--learner-bind', learner));
  for (let i = 0; i < 600 && !checkpoints('restart').includes('round-000001'); i++)
    await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(checkpoints('restart'), ['round-000000', 'round-000001'], 'the first round was checkpointed');
  process.kill(first.pid, 'SIGKILL');
  assert.equal((await first.done).code, null);
  await actor.stderrMatch(/lost the learner/);
  // it was inside round 2 (its jobs queued): the queue is dropped, the robot holds after the episode in progress
  await actor.stderrMatch(/the robot holds after the episode in progress until the learner is back/);
  const second = await finetune(
    '--resume',
    join(dir, 'restart'),
    '--episodes',
    '2',
    '--actors',
    '0',
    '--learner-bind',
    learner,
    '--json',
  ).done;
  assert.equal(second.code, 0, second.stderr);
  const s = JSON.parse(second.stdout);
  assert.ok(s.rounds >= 2, `resumed and went on: ${s.rounds} rounds`);
  const a = await actor.done;
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stderr, /the learner: the learner is done/);
});

test('the endpoint gone past the fault timeout: the robot holds, its actor waits, the session goes on', async () => {
  const port = await freePort();
  let cell = await UrEndpoint.start({ robot: 'ur5e', port });
  const run = finetune(...sessionOn(cell.url, 'link', '--episodes', '4', '--margin', MARGIN, '--robot-wait', '60'));
  // a run that ended without saying it is a failure, not a wait for the test's timeout
  const seen = (re: RegExp) =>
    Promise.race([run.stderrMatch(re), run.done.then((r) => assert.fail(`exit ${r.code} before ${re}: ${r.stderr}`))]);
  try {
    await seen(/actor ready/);
    await new Promise((r) => setTimeout(r, 2500)); // inside the first episode (each takes 6 s or more)
    await cell.stop(); // the endpoint (the robot's ROS side) restarts: gone for longer than the 5 s fault timeout
    await seen(/the robot.s link was lost \(driver \w+ for more than 5\.0 s[^)]*\): it holds/);
    const commands = cell.cell.commands_received;
    cell = await UrEndpoint.start({ robot: 'ur5e', port });
    await seen(/the robot is back: the session goes on/);
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.episodes, 4, 'the episode cut short by the lost link is one of them');
    assert.ok(commands > 0, 'the first endpoint was commanded before it went away');
    assert.ok(cell.cell.commands_received > 100, 'the restarted endpoint was commanded: the session went on there');
    assert.equal((r.stderr.match(/ended by a fault/g) ?? []).length, 1, r.stderr);
  } finally {
    await cell.stop();
  }
});
