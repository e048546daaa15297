// A real host-like stall of a real run: vla-run is stopped whole (SIGSTOP) for half a second, twice, and
// let go (SIGCONT). Its summary must put that in host stalls, not in the runtime's misses, keep counting
// the rest, and execute no action at another tick than its own after it (the tick-stamp check).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { test } from 'node:test';

const BIN = resolve(import.meta.dirname, '../../bin/vla-run.js');
const STOP_MS = 500;

test('SIGSTOP/SIGCONT of the whole vla-run process is a host stall in the summary, not a runtime miss', {
  skip: process.platform !== 'linux' && 'SIGSTOP and /proc: Linux',
  timeout: 60_000,
}, async () => {
  const args = ['--robot', 'ur5e', '--sim', '--policy', 'tick-stamp', '--duration', '14', '--json'];
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  const setUp = new Promise<void>((ok) =>
    child.stderr.on('data', (d) => {
      stderr += d;
      if (stderr.includes('setting up the robot')) ok();
    }),
  );
  const code = new Promise<number | null>((ok) => child.on('exit', (c) => ok(c)));
  await setUp;
  // set-up (policy, control thread, sim) takes 1-5 s on a loaded 2-core machine (more under a CI's full load),
  // and pick-place's episode resets after 8 s of ticks: three stops, 3 s apart, so that at least one falls among
  // running ticks
  let stop_ms = 0;
  for (const wait_ms of [3000, 3000, 3000]) {
    await new Promise((r) => setTimeout(r, wait_ms));
    const stopped_at = performance.now();
    child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, STOP_MS));
    child.kill('SIGCONT');
    stop_ms = Math.max(stop_ms, performance.now() - stopped_at);
  }
  assert.equal(await code, 0, stderr);

  const s = JSON.parse(stdout);
  const m = s.control.missed_ticks;
  assert.ok(m, `missed_ticks in the summary: ${JSON.stringify(s.control)}`);
  assert.equal(m.watchdog, true, 'the watchdog thread ran');
  assert.ok(m.host_stall >= 1, JSON.stringify(m));
  const longest = Math.max(...m.host_stalls.map((e: { length_ms: number }) => e.length_ms));
  // the tick due first in the stop woke when it ended: late by most of it
  assert.ok(
    longest >= STOP_MS * 0.8 && longest <= stop_ms + 250,
    `longest host stall ${longest} ms: ${JSON.stringify(m)}`,
  );
  for (const r of m.runtime_examples)
    assert.ok(r.late_ms < STOP_MS / 2, `the stop counted as the runtime's: ${JSON.stringify(m)}`);
  assert.equal(m.total, m.host_stall + m.cpu_contention + m.runtime);
  assert.equal(s.buffer.stale_actions_executed, 0, 'no action ran at another tick than its own after the stall');
  assert.equal(s.fault, null);
});
