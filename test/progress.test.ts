// Progress bars: drawn with rate and ETA on a terminal, silent when stderr is a pipe or under --json.

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { progress } from '../src/telemetry/progress.js';

function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const s = new PassThrough();
  let out = '';
  s.on('data', (d: Buffer) => {
    out += d.toString();
  });
  Object.assign(s, { isTTY, columns: 120 });
  return { stream: s as unknown as NodeJS.WriteStream, text: () => out };
}

test('progress: a bar with count, rate and ETA on a terminal', () => {
  const t = fakeStream(true);
  const bar = progress('ur5e pick-place', { unit: 'episodes', stream: t.stream });
  bar.update(3, 10, '3 succeeded');
  bar.end();
  const out = t.text();
  assert.match(out, /ur5e pick-place \[/);
  assert.match(out, /3\/10 30%/);
  assert.match(out, /episodes\/s \| ETA /);
  assert.match(out, /3 succeeded/);
});

test('progress: nothing on a pipe, nothing under --json', () => {
  for (const [isTTY, json] of [
    [false, false],
    [true, true],
  ] as const) {
    const t = fakeStream(isTTY);
    const bar = progress('training', { json, stream: t.stream });
    bar.update(1, 2);
    bar.end();
    assert.equal(t.text(), '', `isTTY ${isTTY}, json ${json}`);
  }
});
