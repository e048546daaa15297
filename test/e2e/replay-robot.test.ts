// vla-replay robot end to end, through the real drivers against the simulated endpoints: a UR5e over rosbridge
// (vla-sim serve's endpoint in this process, a real WebSocket) and ALOHA over serial (vla-sim dynamixel in its own
// process, pseudo-terminals). Recordings are made by vla-run on the same endpoints; vla-replay runs as a user
// runs it, in a child process, answering its prompt on a pseudo-terminal where a person would. Also vla-replay
// sim on those recordings: from a robot, the replay cannot be exact and says where it leaves the recording.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import * as pty from '@lydell/node-pty';
import { UrEndpoint } from '../../sim/rosbridge/ur-endpoint.js';
import { readEpisode } from '../../src/recording/index.js';
import { assertRefusedStdout } from '../fixtures/cli.js';
import { vlaRunChild } from './vla-run-child.js';

const BIN = resolve(import.meta.dirname, '../../../bin');
const CALIBRATION = resolve(import.meta.dirname, '../../../calibration/aloha');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Child {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  stderrMatch(re: RegExp): Promise<void>;
}

/** bin/vla-replay.js in a child process (stdin not a terminal), without blocking this one (the endpoint lives here). */
function vlaReplay(...args: string[]): Child {
  const child = spawn(process.execPath, [join(BIN, 'vla-replay.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const watchers: { re: RegExp; resolve: () => void }[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of [...watchers]) if (w.re.test(stderr)) watchers.splice(watchers.indexOf(w), 1) && w.resolve();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return {
    child,
    done: new Promise((res) =>
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        res({ code, signal, stdout, stderr });
      }),
    ),
    stderrMatch: (re) => new Promise((res) => (re.test(stderr) ? res() : watchers.push({ re, resolve: res }))),
  };
}

let dir: string;
let ep: UrEndpoint;
/** An expert episode recorded over rosbridge on `ep` (seed 0). */
let urRec: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vla-replay-robot-'));
  ep = await UrEndpoint.start({ robot: 'ur5e', port: 0, camera_hz: 0 });
  const out = join(dir, 'ur');
  const rec = await vlaRunChild(
    [
      ...['--robot', 'ur5e', '--rosbridge', ep.url, '--policy', 'expert', '--margin', '10', '--record', out],
      ...['--record-cameras', 'none', '--json'],
    ],
    90_000,
  ).done;
  assert.equal(rec.code, 0, rec.stderr);
  urRec = join(out, 'ur5e-pick-place-seed0.mcap');
});

after(async () => {
  await ep?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** The endpoint arm's joints now (rad). */
function armPose(): Float64Array {
  const s = ep.cell.env.newState();
  ep.cell.env.readState(s);
  return s.position_rad;
}
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i])));

test('vla-replay sim on a recording from the rosbridge endpoint: not exact, it says where it leaves it', async () => {
  const r = await vlaReplay('sim', urRec, '--actions', 'recorded', '--json').done;
  assert.equal(r.code, 0, r.stderr);
  const e = JSON.parse(r.stdout).episodes_detail[0];
  assert.equal(e.recorded_on, 'ur');
  assert.equal(e.start.from, 'seed scene + recorded joint state');
  assert.match(e.warnings.join(), /cannot be exact/);
  // the endpoint steps on its own clock and the runtime's ticks jitter: the sim does not follow exactly
  assert.ok(e.divergence.max_abs_rad > 1e-6, JSON.stringify(e.divergence));
  assert.ok(e.divergence.max_abs_rad < 0.5, 'but it plays the same motion');
  assert.equal(e.divergence.joints.length, 7);
  // the sim ends the episode where its task succeeds, which need not be the recording's last tick
  assert.equal(e.divergence.compared_ticks, Math.min(e.recorded.ticks, e.replay.ticks));
});

test('over rosbridge: eases in no faster than asked, then plays every recorded command', async () => {
  const recording = await readEpisode(urRec, { frames: false });
  const before = ep.cell.commands_received;
  const start = armPose();
  const r = await vlaReplay('robot', urRec, '--rosbridge', ep.url, '--yes', '--ease-speed', '1', '--json').done;
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.end, 'completed');
  assert.equal(s.played_ticks, recording.ticks);
  // vla-run left the arm where its episode ended: the move back to the first pose is a real one
  const first = recording.position_rad.subarray(0, 6);
  assert.ok(maxDiff(start, first) > 0.2, `the arm started away from the first pose (${maxDiff(start, first)} rad)`);
  assert.ok(s.ease.distance_rad > 0.2, JSON.stringify(s.ease));
  assert.ok(s.ease.max_speed_rad_s <= 1 + 1e-9, `commanded ${s.ease.max_speed_rad_s} rad/s`);
  assert.ok(s.ease.max_speed_rad_s > 0.9, `as fast as asked, not slower: ${JSON.stringify(s.ease)}`);
  assert.ok(s.ease.start_offset_rad < 0.01, `started from where the runtime held it: ${s.ease.start_offset_rad}`);
  assert.equal(s.safety.clamped_actions, 0, 'nothing the safety filter had to change');
  const got = ep.cell.commands_received - before;
  assert.ok(got >= s.control.ticks - 5, `the commands reached the robot: ${got} of ${s.control.ticks}`);
  // the arm is where the recording ended
  const J = 6;
  const last = recording.position_rad.subarray((recording.ticks - 1) * J, recording.ticks * J);
  await sleep(300);
  assert.ok(maxDiff(armPose(), last) < 0.05, `ended ${maxDiff(armPose(), last)} rad from the recorded end`);
});

test('Ctrl-C during the replay: the robot holds where it is, the summary follows, exit 130', async () => {
  ep.cell.reset(1); // the arm at home, the recording's first pose: the ease-in is short, the recording plays
  const c = vlaReplay('robot', urRec, '--rosbridge', ep.url, '--yes', '--settle', '0');
  await c.stderrMatch(/confirmed/);
  await sleep(2500);
  const moved = maxDiff(armPose(), Float64Array.from(ep.cell.env.description.home_rad));
  assert.ok(moved > 0.05, `the recording was playing (${moved} rad from home)`);
  c.child.kill('SIGINT');
  const r = await c.done;
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stdout, /: interrupted/);
  assert.match(r.stdout, /the robot holds where it stopped/);
  // the cell's controller reaches the last (held) target within a few of its cycles; from then on it stays put
  await sleep(300);
  const held = armPose();
  await sleep(400);
  assert.ok(maxDiff(armPose(), held) < 2e-3, `the arm holds (moved ${maxDiff(armPose(), held)} rad)`);
});

test('a driver fault mid-replay (no joint states): held, and the replay stops there, exit 1', async () => {
  ep.cell.reset(2);
  const c = vlaReplay('robot', urRec, '--rosbridge', ep.url, '--yes', '--settle', '0', '--json');
  await c.stderrMatch(/confirmed/);
  await sleep(2000);
  ep.cell.pauseJointStates(true);
  await sleep(500);
  ep.cell.pauseJointStates(false);
  const r = await c.done;
  assert.equal(r.code, 1, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.end, 'fault');
  assert.match(s.fault, /held for a driver fault .* stops rather than resume mid-recording/);
  assert.ok(s.played_ticks < s.recorded_ticks, `${s.played_ticks} of ${s.recorded_ticks} played`);
  const held = armPose();
  await sleep(400);
  assert.ok(maxDiff(armPose(), held) < 2e-3, `the arm holds (moved ${maxDiff(armPose(), held)} rad)`);
});

test('refused before anything moves: no confirmation, another robot, a truncated file, no endpoint', async () => {
  const before = ep.cell.commands_received;
  const noTty = await vlaReplay('robot', urRec, '--rosbridge', ep.url).done;
  assert.equal(noTty.code, 2);
  assert.match(noTty.stderr, /stdin is not a terminal; add --yes/);
  const other = await vlaReplay('robot', urRec, '--rosbridge', ep.url, '--robot', 'ur5', '--yes', '--json').done;
  assert.equal(other.code, 2);
  assertRefusedStdout(other.stdout);
  assert.match(JSON.parse(other.stdout).error, /recorded on ur5e, not on ur5/);
  const serial = await vlaReplay('robot', urRec, '--ports', 'left=/dev/null,right=/dev/null', '--yes').done;
  assert.equal(serial.code, 2);
  assert.match(serial.stderr, /ur5e recording: it plays over --rosbridge/);
  const cut = join(dir, 'cut.mcap');
  await copyFile(urRec, cut);
  // cut before its first chunk: no complete tick to play (a file cut later plays its complete ticks, with a warning)
  await truncate(cut, Math.min(1500, Math.floor((await stat(urRec)).size / 2)));
  const trunc = await vlaReplay('robot', cut, '--rosbridge', ep.url, '--yes').done;
  assert.equal(trunc.code, 2, trunc.stderr);
  assert.match(trunc.stderr, /cut\.mcap/);
  const nobody = await vlaReplay('robot', urRec, '--rosbridge', 'ws://127.0.0.1:1', '--yes').done;
  assert.equal(nobody.code, 2);
  assert.match(nobody.stderr, /nothing was commanded/);
  assert.equal(ep.cell.commands_received, before, 'no command reached the robot');
});

test('on a terminal it asks: "n" or Ctrl-C moves nothing (exit 2), "y" plays it', async () => {
  const ask = (answer: string) =>
    new Promise<{ code: number; out: string }>((res) => {
      const p = pty.spawn(
        process.execPath,
        [join(BIN, 'vla-replay.js'), 'robot', urRec, '--rosbridge', ep.url, '--ease-speed', '1', '--settle', '0'],
        { cols: 200, rows: 30 },
      );
      let out = '';
      let answered = false;
      p.onData((d) => {
        out += d;
        if (!answered && out.includes('Move the robot? [y/N]')) {
          answered = true;
          p.write(`${answer}\r`);
        }
      });
      p.onExit((e) => res({ code: e.exitCode, out }));
    });
  const before = ep.cell.commands_received;
  const no = await ask('n');
  assert.equal(no.code, 2, no.out);
  assert.match(no.out, /not confirmed: nothing moved/);
  assert.equal(ep.cell.commands_received, before);
  const ctrlC = await ask('\x03');
  assert.equal(ctrlC.code, 2, ctrlC.out);
  assert.match(ctrlC.out, /not confirmed: nothing moved/);
  assert.equal(ep.cell.commands_received, before);
  const yes = await ask('y');
  assert.equal(yes.code, 0, yes.out);
  assert.match(yes.out, /: completed/);
  assert.ok(ep.cell.commands_received > before + 200);
});

test('ALOHA over serial (the Dynamixel emulator): recorded, replayed in the sim and on the arms', async () => {
  const emu = spawn(process.execPath, [join(BIN, 'vla-sim.js'), 'dynamixel', '--robot', 'aloha', '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((r) => emu.once('exit', r));
  try {
    const line = await new Promise<string>((res) => createInterface({ input: emu.stdout! }).once('line', res));
    const ready = JSON.parse(line) as { ports: { left: string; right: string }; sim_link: string };
    const ports = `left=${ready.ports.left},right=${ready.ports.right}`;
    const out = join(dir, 'aloha');
    const rec = await vlaRunChild(
      [
        ...['--robot', 'aloha', '--ports', ports, '--sim-link', ready.sim_link, '--policy', 'expert'],
        ...['--margin', '10', '--record', out, '--record-cameras', 'none', '--json'],
      ],
      90_000,
    ).done;
    assert.equal(rec.code, 0, rec.stderr);
    const file = join(out, 'aloha-transfer-cube-seed0.mcap');
    assert.equal((await readEpisode(file, { frames: false })).meta.driver, 'aloha');
    const sim = await vlaReplay('sim', file, '--actions', 'recorded', '--json').done;
    assert.equal(sim.code, 0, sim.stderr);
    const e = JSON.parse(sim.stdout).episodes_detail[0];
    assert.equal(e.recorded_on, 'aloha');
    assert.ok(e.divergence.max_abs_rad > 0 && e.divergence.max_abs_rad < 0.5, JSON.stringify(e.divergence));
    const args = [
      'robot',
      file,
      '--ports',
      ports,
      '--calibration',
      CALIBRATION,
      '--yes',
      '--ease-speed',
      '1',
      '--json',
    ];
    const r = await vlaReplay(...args).done;
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.end, 'completed');
    assert.equal(s.driver.kind, 'aloha');
    assert.ok(s.ease.max_speed_rad_s <= 1 + 1e-9, JSON.stringify(s.ease));
    assert.ok(
      s.ease.distance_rad > 0.1,
      `the arms ended the episode away from its first pose: ${JSON.stringify(s.ease)}`,
    );
    assert.ok(s.tracking.max_abs_rad < 0.5, JSON.stringify(s.tracking));
    const noCal = await vlaReplay('robot', file, '--ports', ports, '--yes').done;
    assert.equal(noCal.code, 2);
    assert.match(noCal.stderr, /--calibration DIR is required/);
  } finally {
    emu.kill('SIGTERM');
    await exited;
  }
});
