// Telling late replies from fresh ones (drivers/dynamixel/reply-tags.ts): by length for data, and for a
// refusal (which carries no data) by whether an abandoned request is still owed a reply from that ID.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AbandonedReplies } from '../drivers/dynamixel/reply-tags.js';

test('a late refusal settles the abandoned request that is owed it, once; none owed: it is the fresh one', () => {
  const a = new AbandonedReplies();
  a.abandon(1, new Map([[3, { length: 4, count: 1 }]]));
  assert.equal(a.settleError(5), false, 'nothing is owed from ID 5: a refusal from it answers the running request');
  assert.equal(a.settleError(3), true, 'ID 3 owes a reply: the refusal is that late one');
  assert.equal(a.pending, 0);
  assert.equal(a.settleError(3), false, 'settled: the next refusal from ID 3 is fresh');
  a.abandon(2, new Map([[3, { length: 4, count: 2 }]]));
  assert.equal(a.settle(3, 4), true, 'a late reply with data is told by its length');
  assert.equal(a.settleError(3), true);
  assert.equal(a.pending, 0);
});

test('replies owed for longer than the give-up time can be forgotten by age, the recent ones are kept', () => {
  const a = new AbandonedReplies();
  a.abandon(1, new Map([[3, { length: 4, count: 1 }]]), 1000);
  a.abandon(2, new Map([[3, { length: 5, count: 1 }]]), 1150);
  a.abandon(3, new Map([[3, { length: 6, count: 1 }]]), 1300);
  assert.equal(a.forgetOlderThan(1100), 1);
  assert.equal(a.pending, 2);
  assert.equal(a.settle(3, 4), false, 'the forgotten one no longer claims a reply of its length');
  assert.equal(a.settle(3, 6), true, 'a recent one still does');
});
