// vla-run with a camera on the robot host (--camera): ffmpeg's lavfi test source stands in for a V4L2
// device through the same code path, next to a camera topic of the simulated UR cell (mixed sources).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { UrEndpoint } from '../../sim/rosbridge/ur-endpoint.js';
import { assertRefusedStdout } from '../fixtures/cli.js';
import { vlaRunChild } from './vla-run-child.js';

/** Children of `pid` whose command name is `comm`, read from /proc (no ps needed). */
function childPids(pid: number, comm: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid && name === comm) out.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

function cellWithWristCamera(): Promise<UrEndpoint> {
  return UrEndpoint.start({ robot: 'ur5e', port: 0, cameras: ['wrist'], camera_size: 64, camera_hz: 10 });
}

test("--camera top=lavfi: the local camera and the cell's wrist topic both feed the shipped model", async () => {
  const ep = await cellWithWristCamera();
  try {
    const r = await vlaRunChild(
      ['--robot', 'ur5e', '--rosbridge', ep.url, '--camera', 'top=lavfi:testsrc:64x64@15', '--duration', '3', '--json'],
      90_000,
    ).done;
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.policy, 'ur5e-pick-place', 'the default model reads top and wrist');
    assert.deepEqual(Object.keys(s.cameras), ['top']);
    assert.equal(s.cameras.top.source, 'lavfi:testsrc 64x64@15');
    assert.ok(s.cameras.top.frames_served >= 2, JSON.stringify(s.cameras));
    // each inference had both images (a missing wrist image would fail the policy and exit 1)
    assert.ok(s.inference.calls >= 3, JSON.stringify(s.inference));
    assert.equal(s.fault, null);
    assert.ok(ep.cell.commands_received > 50, 'the robot was commanded');
  } finally {
    await ep.stop();
  }
});

test('a local camera that stops delivering: inference stops, the robot holds, exit 1 naming the camera', async () => {
  const ep = await cellWithWristCamera();
  try {
    const run = vlaRunChild(
      [
        '--robot',
        'ur5e',
        '--rosbridge',
        ep.url,
        '--camera',
        'top=lavfi:testsrc:64x64@15',
        '--episodes',
        '1',
        '--fault-timeout',
        '1',
        '--json',
      ],
      90_000,
    );
    await run.stderrMatch(/connected to rosbridge/);
    const ffmpeg = childPids(run.pid, 'ffmpeg');
    assert.equal(ffmpeg.length, 1, `one ffmpeg under vla-run (pid ${run.pid})`);
    await new Promise((r) => setTimeout(r, 1000));
    process.kill(ffmpeg[0], 'SIGKILL');
    const r = await run.done;
    assert.equal(r.code, 1, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.match(s.fault, /camera 'top' stale: its newest frame is \d+\.\d s old .* for more than 1\.0 s/);
    assert.match(r.stderr, /ffmpeg exited \(SIGKILL\) reading testsrc/);
  } finally {
    await ep.stop();
  }
});

test(
  '--camera errors exit 2 before anything moves: bad spec, a camera ' +
    'the model does not read, a device that does not exist',
  async () => {
    const ep = await cellWithWristCamera();
    try {
      const cases: [string, RegExp][] = [
        ['top=/dev/video0:640', /expected NAME=\/dev\/videoN\[:WxH\]\[@FPS\]/],
        ['side=lavfi:testsrc', /ur5e-pick-place reads no camera 'side' \(it reads: top, wrist\)/],
        ['top=/dev/video-vla-missing', /camera 'top': cannot read \/dev\/video-vla-missing.*nothing was commanded/],
      ];
      for (const [spec, re] of cases) {
        const before = ep.cell.commands_received;
        const r = await vlaRunChild(['--robot', 'ur5e', '--rosbridge', ep.url, '--camera', spec, '--json'], 60_000)
          .done;
        assert.equal(r.code, 2, `${spec}: ${r.stderr}`);
        assert.match(r.stderr, re);
        assertRefusedStdout(r.stdout);
        assert.equal(ep.cell.commands_received, before, `${spec}: nothing was commanded`);
      }
    } finally {
      await ep.stop();
    }
  },
);
