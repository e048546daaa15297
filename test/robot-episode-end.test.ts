// After a robot episode: a fault ends the session, except a lost link, which is waited for (a few times in a row
// at most); a pause goes on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RobotEpisodeEnd } from '../src/rl/robot/robot-episode-end.js';
import type { EpisodeRunner } from '../src/rl/rollout-pool.js';
import type { RolloutEpisode } from '../src/rl/sim-rollouts.js';

function episode(more: Partial<RolloutEpisode>): RolloutEpisode {
  const none = new Float32Array(0);
  return {
    seed: 1,
    success: false,
    truncated: false,
    ticks: 9,
    steps: 0,
    inputs: none,
    u: none,
    mean_abs_u: [],
    interventions: [],
    ...more,
  };
}

/** A runner whose robot comes back (undefined) or not (a reason), counting the waits. */
function runner(back: string | undefined): EpisodeRunner & { waits: number[] } {
  const r = {
    waits: [] as number[],
    episode: () => Promise.reject(new Error('not here')),
    close: () => Promise.resolve(),
    awaitRobot: (timeout_ms: number) => {
      r.waits.push(timeout_ms);
      return Promise.resolve(back);
    },
  };
  return r;
}

const LOST = 'driver disconnected for more than 5.0 s: connection to ws://127.0.0.1:9090 lost';

test('a lost link is waited for and the session goes on; another fault, or no wait, ends it', async () => {
  const lines: string[] = [];
  const end = new RobotEpisodeEnd(60_000, (l) => lines.push(l));
  const back = runner(undefined);
  assert.equal(await end.after(episode({ success: true }), back), undefined);
  assert.equal(await end.after(episode({ fault: 'paused by the operator' }), back), undefined);
  assert.deepEqual(back.waits, [], 'nothing to wait for');
  assert.equal(await end.after(episode({ fault: LOST, link_lost: true }), back), undefined);
  assert.deepEqual(back.waits, [60_000]);
  assert.match(lines.join('\n'), /link was lost \(driver disconnected .*\): it holds; waiting up to 60 s/);
  assert.match(lines.join('\n'), /the robot is back: the session goes on/);
  const alarm = 'driver hardware_alert: right follower ID 7 (wrist_angle): Overload Error';
  assert.equal(await end.after(episode({ fault: alarm }), back), alarm, 'a latched alarm needs a person');
  assert.equal(await new RobotEpisodeEnd(0, () => {}).after(episode({ fault: LOST, link_lost: true }), back), LOST);
  const gone = runner('no connection to ws://127.0.0.1:9090 (waited 60 s for the robot)');
  assert.match((await end.after(episode({ fault: LOST, link_lost: true }), gone)) ?? '', /waited 60 s/);
});

test('a link lost in more than 3 episodes in a row ends the session; an episode that ran resets it', async () => {
  const end = new RobotEpisodeEnd(1000, () => {});
  const back = runner(undefined);
  const lost = episode({ fault: LOST, link_lost: true });
  for (let i = 0; i < 3; i++) assert.equal(await end.after(lost, back), undefined, `loss ${i + 1}`);
  assert.match((await end.after(lost, back)) ?? '', /lost in 4 episodes in a row/);
  assert.equal(back.waits.length, 3, 'the 4th is not waited for');
  const again = new RobotEpisodeEnd(1000, () => {});
  for (let i = 0; i < 3; i++) await again.after(lost, back);
  await again.after(episode({ success: true }), back);
  assert.equal(await again.after(lost, back), undefined, 'counted from the episode that ran');
});
