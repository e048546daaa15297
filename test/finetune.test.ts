// vla-finetune as a user runs it (short runs): an unsafe run name, an existing run folder or bad layer sizes are
// refused; a run stopped and resumed ends with the very weights of an uninterrupted one; a damaged newest
// checkpoint is named and the previous one used; any checkpoint exports as ONNX; a scripted operator's takeovers
// are counted and join the offline buffer, its labels of every decision the imitation buffer; a sabotaged learning
// rate collapses the run, which is rolled back to the best checkpoint and, collapsing again, stopped (exit 1) with
// the best residual kept.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseResidualOnnx } from '../src/policy/residual/residual-onnx.js';
import { checkpointDir, learnerOfRound, loadRunState } from '../src/rl/run-state.js';
import { BIN, finetune, ROOT, SMALL_EVAL, smallRun } from './fixtures/finetune.js';

const tmp = await mkdtemp(join(tmpdir(), 'vla-finetune-'));
after(() => rm(tmp, { recursive: true, force: true }));
const SMALL = smallRun(tmp);

describe('vla-finetune', () => {
  test('an unsafe run name is refused with a safe suggestion; an existing run folder is not overwritten', async () => {
    let r = finetune(...SMALL, '--run', 'exp||lr:3e-4', '--rounds', '1');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /run name 'exp\|\|lr:3e-4' is not safe as a folder name .*try 'exp-lr-3e-4'/);
    await writeFile(join(tmp, 'taken'), '');
    r = finetune(...SMALL, '--run', 'taken', '--rounds', '1');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /taken exists: continue it with --resume/);
    r = finetune(...SMALL, '--run', 'wide', '--rounds', '1', '--hidden', '256,x');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--hidden must be 1 to 4 layer sizes .*got '256,x'/);
    assert.equal(existsSync(join(tmp, 'wide')), false, 'no run folder was made');
    r = finetune(...SMALL, '--run', 'scene', '--rounds', '1', '--start-features', '--no-features');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--start-features needs the features --no-features turns off/);
    r = finetune(...SMALL, '--run', 'wrist', '--rounds', '1', '--scale-deg', '3,3,20');
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /--scale-deg: 3 values for 6 joints; give one for all or one per joint \(shoulder_pan_joint/,
    );
    r = finetune(...SMALL, '--run', 'wrist', '--rounds', '1', '--scale-deg', '3,3,3,3,3,60');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--scale-deg must be a number in \[0.01, 45\], got '60'/);
    r = finetune(...SMALL, '--run', 'other', '--rounds', '1', '--base', 'models/aloha-transfer-cube.onnx');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--base .*aloha-transfer-cube\.onnx does not fit ur5e: action dimension: expected 7/);
    assert.equal(existsSync(join(tmp, 'other')), false, 'refused before a run folder was made');
    r = finetune(...SMALL, '--run', 'fb', '--rounds', '1', '--operator', 'scripted', '--operator-expert', 'feedback');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--operator-expert feedback: no state-feedback expert for pick-place .*for: push/);
    r = finetune(...SMALL, '--run', 'fb', '--rounds', '1', '--task', 'push', '--operator-expert', 'feedback');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--operator-expert feedback is for the scripted operator \(--operator scripted\)/);
    r = finetune(...SMALL, '--run', 'tool', '--rounds', '1', '--scale-cm', '2');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--scale-cm bounds the tool frame: add --frame tool/);
    r = finetune(...SMALL, '--run', 'tool', '--rounds', '1', '--frame', 'tool', '--scale-cm', '3,3');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--scale-cm with --frame tool: one value or three \(x,y,z\), found '3,3'/);
    r = finetune('operator', '--robot', 'aloha', '--frame', 'tool');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--frame tool: aloha's profile has no kinematics/);
    r = finetune('select', join(tmp, 'nothing'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /nothing: no config.json \(ENOENT\); not a run folder/);
  });

  test('on a robot: a bad workspace box, or --sim with --rosbridge, is refused before anything starts', async () => {
    const robot = ['--robot', 'ur5e', '--rosbridge', 'ws://127.0.0.1:9', '--run', 'boxed', '--runs-dir', tmp];
    const bad = join(tmp, 'box.json');
    for (const [box, why] of [
      ['{"joints_deg": {"elbow": [-10, 10]}}', /ur5e has no joint 'elbow'/],
      ['{"joints_deg": {"shoulder_pan_joint": [10, 20]}}', /home pose .* is outside/],
      ['{"joints": {"shoulder_pan_joint": [10, 20]}}', /expected \{"joints_deg"/],
      ['{"flange_m": {"x": [0.2, 0.8], "y": [-1, 1], "z": [0, 1]}}', /home pose puts the flange at .* outside .* in x/],
    ] as const) {
      await writeFile(bad, box);
      const r = finetune(...robot, '--workspace-box', bad);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, why);
    }
    await writeFile(bad, '{"flange_m": {"x": [-1, 1], "y": [-1, 1], "z": [0, 1]}}');
    const arms = ['--robot', 'aloha', '--ports', 'left=/dev/null,right=/dev/null', '--run', 'boxed', '--runs-dir', tmp];
    const aloha = finetune(...arms, '--workspace-box', bad);
    assert.equal(aloha.code, 2, aloha.stderr);
    assert.match(aloha.stderr, /aloha's profile has no kinematics .*use a joint box/);
    const both = finetune(...robot, '--sim');
    assert.equal(both.code, 2);
    assert.match(both.stderr, /say where episodes run: --sim .*--rosbridge .*--ports/);
    const simBox = finetune(...SMALL, '--run', 'x', '--workspace-box', bad);
    assert.equal(simBox.code, 2);
    assert.match(simBox.stderr, /--workspace-box is for a session on a robot/);
    assert.equal(existsSync(join(tmp, 'boxed')), false, 'no run folder was made');
  });

  test('stopped at round 2 and resumed, a run ends with the weights of an uninterrupted one', async () => {
    const whole = finetune(...SMALL, ...SMALL_EVAL, '--run', 'whole', '--rounds', '4', '--json');
    assert.equal(whole.code, 0, whole.stderr);
    const first = finetune(...SMALL, ...SMALL_EVAL, '--run', 'split', '--rounds', '2', '--json');
    assert.equal(first.code, 0, first.stderr);
    const second = finetune('--resume', join(tmp, 'split'), '--rounds', '4', '--json');
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /resuming from .*round-000002 \(round 2\)/);
    const a = await loadRunState(checkpointDir(join(tmp, 'whole'), 4));
    const b = await loadRunState(checkpointDir(join(tmp, 'split'), 4));
    assert.equal(b.learner.updates, a.learner.updates, 'the update count continues');
    assert.ok(a.learner.updates > 0 && a.learner.actor_opt.step > 0, 'the actor was trained');
    assert.deepEqual(b.learner.actor, a.learner.actor, 'actor weights');
    assert.deepEqual(b.learner.critics, a.learner.critics, 'critic weights');
    assert.deepEqual(b.learner.critic_opt, a.learner.critic_opt, 'optimiser moments');
    assert.deepEqual(b.online, a.online, 'replay buffer');
    assert.equal(b.counters.episodes, a.counters.episodes);
    const summary = JSON.parse(whole.stdout);
    assert.equal(summary.rounds, 4);
    assert.ok((await readFile(join(tmp, 'whole', 'residual.onnx'))).length > 1000, 'the best residual is exported');

    // at the end the two best-evaluated rounds ran again on 3 seeds from 30000; the better became residual.onnx
    const selected = JSON.parse(await readFile(join(tmp, 'whole', 'selected.json'), 'utf8'));
    const evals = (await readFile(join(tmp, 'whole', 'metrics.jsonl'), 'utf8')).split('\n').filter((l) => l);
    const ran = evals.map((l) => JSON.parse(l)).filter((l) => l.type === 'select');
    assert.deepEqual(
      ran.map((l) => [l.round, l.episodes, l.seed0]),
      [
        [2, 3, 30000],
        [4, 3, 30000],
      ],
    );
    assert.deepEqual(selected.candidates, ran, 'selected.json holds every candidate');
    // the resumed run's selection reused the round its first session had already run on these seeds
    const splitLines = (await readFile(join(tmp, 'split', 'metrics.jsonl'), 'utf8')).split('\n').filter((l) => l);
    const splitRan = splitLines.map((l) => JSON.parse(l)).filter((l) => l.type === 'select');
    assert.deepEqual(
      splitRan.map((l) => l.round),
      [2, 4],
      'round 2 selected once',
    );
    const splitSelected = JSON.parse(await readFile(join(tmp, 'split', 'selected.json'), 'utf8'));
    assert.deepEqual(splitSelected.candidates, ran, 'the same scores as the uninterrupted run');
    // each evaluation says where its failed episodes ended: their task figures came over the actor link
    for (const l of evals.map((x) => JSON.parse(x)).filter((x) => x.type === 'eval')) {
      const failed = l.episodes - l.successes;
      if (failed === 0) assert.equal(l.failures, undefined);
      else {
        assert.equal(l.failures.failures, failed, JSON.stringify(l));
        const figures = ['closest_cube_to_target_m', 'cube_height_m', 'cube_highest_lift_m', 'cube_to_target_m'];
        assert.deepEqual(Object.keys(l.failures.median).sort(), figures);
      }
    }
    const top = Math.max(...ran.map((l) => l.successes));
    assert.equal(selected.round, ran.findLast((l) => l.successes === top).round, 'the best, the later on a tie');
    assert.equal(summary.selected.round, selected.round);

    // any checkpoint exports; the selected one as the session exported it, byte for byte
    const out = join(tmp, 'chosen.onnx');
    const exported = finetune('export', join(tmp, 'whole'), '--round', String(selected.round), '--out', out, '--json');
    assert.equal(exported.code, 0, exported.stderr);
    assert.equal(JSON.parse(exported.stdout).residual, out);
    assert.deepEqual(await readFile(out), await readFile(join(tmp, 'whole', 'residual.onnx')));
    const missing = finetune('export', join(tmp, 'whole'), '--round', '3');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no readable checkpoint of round 3; it has checkpoints of rounds 0, 2, 4/);
    // only the newest two checkpoints keep their replay buffers: an older one keeps its learner (what an export or
    // a rollback reads), and does not resume
    await assert.rejects(loadRunState(checkpointDir(join(tmp, 'whole'), 0)), /round-000000: its replay buffers were/);
    const early = await learnerOfRound(join(tmp, 'whole'), 0);
    assert.equal(early.round, 0);
    assert.ok(early.learner.actor.length > 0 && early.buffers_dropped);
    const kept = (await loadRunState(checkpointDir(join(tmp, 'whole'), 2))).online.added;
    assert.ok(kept > 0 && kept < a.online.added, `round 2 keeps its own buffer: ${kept} of ${a.online.added}`);

    // the newest checkpoint damaged: named, and the run goes on from the one before
    await writeFile(join(checkpointDir(join(tmp, 'whole'), 4), 'arrays.bin'), 'garbage');
    const again = finetune('--resume', join(tmp, 'whole'), '--rounds', '4', '--json');
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /skipped a damaged checkpoint: .*round-000004\/arrays\.bin: damaged/);
    assert.match(again.stderr, /moved aside to .*round-000004\.damaged/);
    assert.match(again.stderr, /resuming from .*round-000002/);
    assert.deepEqual((await loadRunState(checkpointDir(join(tmp, 'whole'), 4))).learner.actor, a.learner.actor);
  });

  test('a run stopped before its first checkpoint resumes afresh, from any folder, its base found', async () => {
    // (and a run too short for its actor to start learning warns that its residual is still the initial one)
    const early = join(tmp, 'early');
    const none = finetune(
      ...SMALL,
      ...SMALL_EVAL,
      '--run',
      'early',
      '--rounds',
      '1',
      '--actors',
      '0',
      '--actor-wait',
      '1',
    );
    assert.equal(none.code, 1, none.stderr);
    assert.match(none.stderr, /no actor ready at /);
    assert.equal(existsSync(join(early, 'checkpoints')), false, 'stopped before its first checkpoint');
    // as a run from before base paths were stored absolute: relative to the folder it started in
    const config = JSON.parse(await readFile(join(early, 'config.json'), 'utf8'));
    assert.equal(config.base.path, join(ROOT, 'models/ur5e-pick-place.onnx'), 'stored absolute');
    config.base.path = 'models/ur5e-pick-place.onnx';
    config.learner.actor_delay_updates = 100_000; // and too short a run to start the actor: it says so
    await writeFile(join(early, 'config.json'), JSON.stringify(config));
    // from another folder, where models/ is not: the shipped model of that name is found
    const again = spawnSync(process.execPath, [BIN, '--resume', early, '--rounds', '1', '--json'], {
      cwd: tmp,
      encoding: 'utf8',
      timeout: 300_000,
    });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /early has no checkpoint yet: starting it afresh from its config\.json/);
    assert.match(again.stderr, /warning: the actor has not started learning yet \(\d+ of the 100000 critic updates/);
    assert.equal((await loadRunState(checkpointDir(early, 1))).round, 1);
  });

  test('--operator scripted: takeovers are counted per round and join the offline buffer', async () => {
    const args = ['--run', 'operated', '--rounds', '2', '--operator', 'scripted', '--takeover-deg', '2', '--json'];
    args.push('--operator-labels', 'all', '--latency-ms', 'measured', '--scale-deg', '3,3,3,3,3,20');
    const r = finetune(...SMALL, ...SMALL_EVAL, ...args);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /the base model takes [\d.]+-[\d.]+ ms here \(median [\d.]+ ms, 10 calls\)/);
    const lines = (await readFile(join(tmp, 'operated', 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const rates = lines.filter((l) => l.type === 'round').map((l) => l.intervention_rate);
    assert.ok(rates.length === 2 && rates.every((x) => x > 0 && x <= 1), `intervention rates ${rates}`);
    const offline = lines.find((l) => l.type === 'offline').transitions;
    const state = await loadRunState(checkpointDir(join(tmp, 'operated'), 2));
    assert.ok(state.offline.added > offline, `offline buffer ${offline} -> ${state.offline.added}: takeovers joined`);
    const config = JSON.parse(await readFile(join(tmp, 'operated', 'config.json'), 'utf8'));
    assert.equal(config.operator.kind, 'scripted');
    // per-joint bounds: the wrist's 20 degrees against the others' 3, in the config and in the exported residual
    assert.deepEqual(
      config.residual.joint_scale_rad.map((x: number) => +((x * 180) / Math.PI).toFixed(6)),
      [3, 3, 3, 3, 3, 20],
    );
    const residual = join(tmp, 'operated', 'residual.onnx');
    const { manifest } = parseResidualOnnx(residual, await readFile(residual));
    assert.ok(Math.abs(manifest.scale[5] / manifest.scale[0] - 20 / 3) < 1e-6, `scale ${manifest.scale}`);
    const bound = manifest.scale[0] / ((3 * Math.PI) / 180);
    assert.ok(Math.abs(manifest.scale[6] - 0.2 * bound) < 1e-6, `the gripper keeps its own: ${manifest.scale}`);
    // --latency-ms measured: the base model timed here, kept in the config so episodes repeat and resume exactly
    assert.equal(config.latency_samples_ms.length, 10);
    assert.ok(
      config.latency_samples_ms.every((x: number) => x >= 0 && x < 10_000),
      `${config.latency_samples_ms}`,
    );
    // --operator-labels all: every decision of the training episodes is labelled for the actor to imitate
    assert.equal(config.operator.label_all, true);
    assert.equal(state.interventions?.added, state.online.added, 'as many labels as decisions');
    const bad = finetune(...SMALL, '--run', 'x', '--operator', 'human');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown --operator 'human' \(valid: none, scripted, keyboard\)/);
  });

  test('a sabotaged learning rate collapses the run: rolled back to the best, then stopped (exit 1)', () => {
    const r = finetune(
      ...SMALL,
      '--run',
      'collapse',
      '--every-ticks',
      '5',
      '--rounds',
      '8',
      '--eval-every',
      '1',
      '--eval-episodes',
      '6',
      '--offline-episodes',
      '2',
      '--actor-delay-updates',
      '100',
      '--warmup-updates',
      '20',
      '--actor-lr',
      '1',
      '--initial-bound',
      '1',
      '--max-collapses',
      '1',
      '--select-episodes',
      '2',
      '--json',
    );
    assert.equal(r.code, 1, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.ended, 'collapse');
    assert.equal(s.collapses, 1);
    assert.match(s.message, /fell below .* more than --max-collapses 1; the best residual \(round 1\) is kept/);
    assert.equal(s.best.round, 1);
    assert.ok(s.selected, 'a run the collapse guard stopped still selects among its checkpoints');
  });
});
