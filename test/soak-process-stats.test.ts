// vla-run --stats-every/--stats-file: the process's memory and file descriptors as JSON lines during a real
// run, and bad values refused before anything moves (exit 2). The descriptor count is checked against
// descriptors this test opens itself.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { openFds, sampleProcess } from '../src/telemetry/process-stats.js';

const BIN = resolve(import.meta.dirname, '../../bin/vla-run.js');
const dir = await mkdtemp(join(tmpdir(), 'vla-stats-'));
test.after(() => rm(dir, { recursive: true, force: true }));

function vlaRun(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('openFds counts descriptors as they are opened and closed', { skip: process.platform !== 'linux' }, () => {
  const before = openFds();
  assert.ok(before !== null && before >= 3, `stdin, stdout, stderr at least: ${before}`);
  const fds = [0, 1, 2].map(() => openSync(BIN, 'r'));
  assert.equal(openFds(), before + 3);
  for (const fd of fds) closeSync(fd);
  assert.equal(openFds(), before);
});

test('sampleProcess sees an allocation of 64 MB outside the heap', () => {
  const before = sampleProcess(0);
  const big = Buffer.alloc(64 * 1024 * 1024, 1);
  const after = sampleProcess(1);
  assert.ok(after.array_buffers_mb - before.array_buffers_mb >= 63, JSON.stringify({ before, after }));
  assert.ok(after.rss_mb - before.rss_mb >= 60, 'filled pages are resident');
  if (after.rss_anon_mb !== null && before.rss_anon_mb !== null)
    assert.ok(after.rss_anon_mb - before.rss_anon_mb >= 60, 'and anonymous, not file-backed');
  assert.equal(big[big.length - 1], 1);
});

test('--stats-every 0.5 --stats-file: a line every half second of a real run, and a last one at exit', () => {
  const file = join(dir, 'stats.jsonl');
  const r = vlaRun(
    '--robot',
    'ur5e',
    '--sim',
    '--policy',
    'tick-stamp',
    '--duration',
    '3',
    '--json',
    '--stats-every',
    '0.5',
    '--stats-file',
    file,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.ok(JSON.parse(r.stdout).control, 'the summary is unchanged on stdout');
  assert.doesNotMatch(r.stderr, /process_stats/, 'with a file, nothing on stderr');
  return readFile(file, 'utf8').then((text) => {
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).process_stats);
    // 3 s of ticks plus set-up: at least 6 periodic samples, then the one at exit
    assert.ok(lines.length >= 7, `${lines.length} lines`);
    for (const [i, s] of lines.entries()) {
      assert.ok(s.rss_mb > 20 && s.heap_used_mb > 1 && s.external_mb >= 0, JSON.stringify(s));
      assert.ok(Number.isInteger(s.fds) && s.fds >= 3, JSON.stringify(s));
      if (i > 0) assert.ok(s.t_s >= lines[i - 1].t_s, 'in time order');
    }
    // the control thread posts its own heap every 2 s: a sample after that has it, beside the main thread's
    const control = lines.map((s) => s.thread_heaps_mb.control).filter((x) => x !== undefined);
    assert.ok(control.length > 0 && control.every((x) => x > 0.5 && x < 500), `control heap ${control}`);
    assert.equal(lines[0].thread_heaps_mb.control, undefined, 'nothing before the thread reported');
    // with it, the heap of the stall watchdog thread it owns (a thread that never yielded grew its heap)
    const watchdog = lines.map((s) => s.thread_heaps_mb['stall-watchdog']).filter((x) => x !== undefined);
    assert.ok(watchdog.length > 0 && watchdog.every((x) => x > 0.5 && x < 500), `watchdog heap ${watchdog}`);
    // beside what it uses, what it keeps resident: at least as much (V8 commits whole pages)
    for (const s of lines.filter((l) => l.thread_heaps_mb.control !== undefined))
      assert.ok(s.thread_heaps_physical_mb.control >= s.thread_heaps_mb.control * 0.9, JSON.stringify(s));
    assert.equal(lines.at(-1).final, true, 'the last is the exit sample');
    assert.equal(lines.filter((s) => s.final).length, 1);
  });
});

test("--stats-every alone writes on stderr; an ONNX policy adds its thread's heap; --stats-gc", () => {
  const model = join(import.meta.dirname, '../../models/ur5e-pick-place.onnx');
  const r = vlaRun(
    '--robot',
    'ur5e',
    '--sim',
    '--policy',
    model,
    '--duration',
    '1.5',
    '--json',
    '--stats-every',
    '0.5',
    '--stats-gc',
  );
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('{"process_stats"'));
  assert.ok(lines.length >= 2, r.stderr);
  const samples = lines.map((l) => JSON.parse(l).process_stats);
  const inference = samples.map((s) => s.thread_heaps_mb.inference).filter((x) => x);
  assert.ok(inference.length > 0 && inference.every((x) => x > 0.5 && x < 500), `inference heap ${inference}`);
  // every periodic sample is also taken after a full GC, which leaves less heap than the run had just before
  const periodic = samples.filter((s) => !s.final);
  assert.ok(
    periodic.every((s) => s.after_gc && s.after_gc.rss_mb > 20),
    JSON.stringify(periodic),
  );
  assert.ok(
    periodic.some((s) => s.after_gc.heap_used_mb < s.heap_used_mb),
    JSON.stringify(periodic),
  );
});

test('bad stats flags are refused with exit 2 and one JSON error, before anything runs', () => {
  const base = ['--robot', 'ur5e', '--sim', '--policy', 'tick-stamp', '--duration', '1', '--json'];
  const cases: [string[], RegExp][] = [
    [['--stats-file', join(dir, 'x.jsonl')], /--stats-file goes with --stats-every/],
    [['--stats-gc'], /--stats-gc goes with --stats-every/],
    [['--stats-every', '0'], /--stats-every must be a number/],
    [['--stats-every', 'often'], /--stats-every must be a number/],
    [['--stats-every', '1', '--stats-file', join(dir, 'no-such-dir', 'x.jsonl')], /--stats-file .*cannot write it/],
  ];
  for (const [flags, why] of cases) {
    const r = vlaRun(...base, ...flags);
    assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim());
    assert.match(out.error, why);
    assert.ok(!('control' in out), 'refused before any tick');
  }
});
