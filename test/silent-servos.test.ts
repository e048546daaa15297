// A fault names the servo that stopped answering, not the arm that was late once on the tick the fault
// timeout expired (seen under CI load: "no reply from IDs 1, ..., 9" for a run whose ID 7 was unplugged).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SilentServos } from '../drivers/aloha/silent-servos.js';

const ALL = [1, 2, 3, 4, 5, 6, 7, 8, 9];
const late = (ids: number[]) =>
  `right follower: no reply from IDs ${ids.join(', ')} to SYNC_READ within its control tick`;

test('a servo silent read after read is named even when the last read missed the whole arm', () => {
  const s = new SilentServos(9);
  for (let i = 0; i < 49; i++) s.missed([7]);
  s.missed(ALL);
  assert.equal(
    s.describe('right follower', ALL, late(ALL)),
    `right follower: no reply from ID 7 to the last 50 reads (this one: ${late(ALL).slice('right follower: '.length)})`,
  );
});

test('the message stays as it is when what the read missed is all there is to say', () => {
  const s = new SilentServos(9);
  s.missed(ALL);
  assert.equal(s.describe('right follower', ALL, late(ALL)), late(ALL), 'one late read: nothing is silent longer');
  s.missed([7]);
  assert.equal(s.describe('right follower', [7], late([7])), late([7]), 'only ID 7 missed, and it is named');
  s.answered();
  s.missed([3, 7]);
  s.missed([3, 7]);
  s.missed(ALL);
  assert.match(
    s.describe('right follower', ALL, late(ALL)),
    /^right follower: no reply from IDs 3, 7 to the last 3 reads/,
  );
  assert.equal(s.longest(), 3);
  s.answered();
  assert.equal(s.longest(), 0);
});

test('a servo that answers again starts from 0', () => {
  const s = new SilentServos(9);
  for (let i = 0; i < 10; i++) s.missed([7]);
  s.missed([2]);
  s.missed(ALL);
  assert.match(s.describe('right follower', ALL, late(ALL)), /no reply from ID 2 to the last 2 reads/);
});
