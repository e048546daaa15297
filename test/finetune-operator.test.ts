// vla-finetune's scripted operator as a measuring tool: \`operator\`, what it alone achieves within a bound (the
// ceiling of a session), \`imitation\`, how closely a trained residual follows it on its own states, and a session in
// the tool's frame, whose labels, bounds and exported residual follow that frame.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseResidualOnnx } from '../src/policy/residual/residual-onnx.js';
import { loadRobot } from '../src/robot/index.js';
import { finetune, SMALL_EVAL, smallRun } from './fixtures/finetune.js';

const tmp = await mkdtemp(join(tmpdir(), 'vla-finetune-operator-'));
after(() => rm(tmp, { recursive: true, force: true }));
const SMALL = smallRun(tmp);

describe('vla-finetune and its scripted operator', () => {
  test('--frame tool --tool-pose: the session corrects the tool and the residual it exports says so', async () => {
    const args = [
      '--run',
      'tooled',
      '--rounds',
      '2',
      '--task',
      'push',
      '--operator',
      'scripted',
      '--takeover-deg',
      '2',
    ];
    args.push(
      '--frame',
      'tool',
      '--scale-cm',
      '3,3,0.5',
      '--scale-deg',
      '1,1,6',
      '--tool-pose',
      '--measured-tool-pose',
      '--json',
    );
    const r = finetune(...SMALL, ...SMALL_EVAL, ...args);
    assert.equal(r.code, 0, r.stderr);
    const config = JSON.parse(await readFile(join(tmp, 'tooled', 'config.json'), 'utf8'));
    assert.deepEqual(config.residual.tool.translation_m, [0.03, 0.03, 0.005]);
    assert.equal(config.residual.tool_pose, true);
    const residual = join(tmp, 'tooled', 'residual.onnx');
    const { manifest } = parseResidualOnnx(residual, await readFile(residual));
    assert.equal(manifest.frame, 'tool');
    const blocks = manifest.inputs.map((b) => b.block);
    assert.ok(blocks.includes('tool_pose') && blocks.includes('measured_tool_pose'), `${blocks}`);
    // exported at the trust region of its round: the tool's bounds shrink with the joints' as they would
    const bound = manifest.scale[6] / 0.2;
    assert.ok(Math.abs(manifest.scale[2] - 0.005 * bound) < 1e-9, `${manifest.scale}`);
    const half = finetune(...SMALL, '--run', 'half', '--rounds', '1', '--measured-tool-pose');
    assert.equal(half.code, 2);
    assert.match(half.stderr, /--measured-tool-pose needs --tool-pose/);
    const rounds = (await readFile(join(tmp, 'tooled', 'metrics.jsonl'), 'utf8'))
      .split('\n')
      .filter((l) => l.includes('"round"'));
    assert.ok(rounds.length >= 2);
  });

  test('vla-finetune operator: the operator alone within the bound, beside the base alone', () => {
    const r = finetune('operator', '--task', 'push', '--scale-deg', '6', '--episodes', '4', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.joint_bound_deg.map(Math.round), [6, 6, 6, 6, 6, 6]);
    assert.equal(out.with_operator.episodes, 4);
    assert.ok(out.base_alone.successes < 4, 'seeds 30000-30003 hold one the base fails');
    assert.equal(out.base_alone.failures.failures, 4 - out.base_alone.successes);
    assert.equal(out.with_operator.successes, 4, 'the operator rescues it within the bound');
    const plan = finetune('operator', '--task', 'push', '--operator-expert', 'feedback', '--episodes', '1', '--json');
    assert.equal(JSON.parse(plan.stdout).expert, 'feedback');
    // the tool frame: the flange moved up to 3, 3, 0.5 cm and turned up to 1, 1, 6 degrees
    const args = ['--task', 'push', '--frame', 'tool', '--scale-cm', '3,3,0.5', '--scale-deg', '1,1,6'];
    const tool = finetune('operator', ...args, '--operator-expert', 'feedback', '--episodes', '2', '--json');
    assert.equal(tool.code, 0, tool.stderr);
    const t = JSON.parse(tool.stdout);
    assert.deepEqual(t.tool_bound, { translation_cm: [3, 3, 0.5], rotation_deg: [1, 1, 6] });
    assert.equal(t.with_operator.successes, 2);
  });

  test('vla-finetune imitation: a shipped residual against the operator on its own states', async () => {
    const args = ['--task', 'push', '--residual', 'models/ur5e-push.residual.onnx', '--operator-expert', 'feedback'];
    const r = finetune('imitation', ...args, '--episodes', '3', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.episodes, 3);
    const d = out.successes > 0 ? out.in_successes : out.in_failures;
    assert.deepEqual(Object.keys(d.rms_per_dimension), (await loadRobot('ur5e')).action_names);
    // a trained residual does not agree with its operator exactly, and cannot disagree by more than 2 per dimension
    assert.ok(d.sum_sq_per_decision > 0 && d.sum_sq_per_decision < 4 * 7, `${d.sum_sq_per_decision}`);
    const other = finetune('imitation', '--task', 'push', '--residual', 'models/ur5e-pick-place.residual.onnx');
    assert.equal(other.code, 2);
    assert.match(other.stderr, /was trained on another base model: expected ur5e-pick-place\.onnx/);
  });

  test('--warm-start-episodes: the operator holds the arm in them, the actor is fitted before round 1', async () => {
    const args = ['--run', 'warm', '--rounds', '1', '--task', 'push', '--operator', 'scripted', '--scale-deg', '6'];
    const warmArgs = ['--warm-start-episodes', '6', '--warm-start-epochs', '10', '--json'];
    const r = finetune(...SMALL, ...SMALL_EVAL, ...args, ...warmArgs);
    assert.equal(r.code, 0, r.stderr);
    const lines = (await readFile(join(tmp, 'warm', 'metrics.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const warm = lines.find((l) => l.type === 'warm_start');
    assert.equal(warm.episodes, 6);
    assert.ok(warm.labels >= 6 * 10, `${warm.labels} labelled decisions`);
    assert.equal(warm.loss_per_epoch.length, 10);
    assert.ok(warm.loss_per_epoch[9] < warm.loss_per_epoch[0], `${warm.loss_per_epoch}`);
    const config = JSON.parse(await readFile(join(tmp, 'warm', 'config.json'), 'utf8'));
    assert.deepEqual(config.warm_start, { episodes: 6, epochs: 10, lr: 0.001 });
    const bare = finetune(...SMALL, '--run', 'bare', '--rounds', '1', '--warm-start-episodes', '6');
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /--warm-start-episodes needs --operator scripted/);
  });
});
