import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import onnxProto from 'onnx-proto';
import {
  checkManifestAgainstGraph,
  checkPolicyFitsRobot,
  describeManifest,
  PolicyLoadError,
  parseManifest,
} from '../src/policy/onnx/manifest.js';
import { testPolicyManifest, writeTestPolicy } from '../src/policy/onnx/model-writer.js';
import { loadModelManifest, sidecarPath } from '../src/policy/onnx/onnx-file.js';
import { OnnxPolicy } from '../src/policy/onnx/onnx-policy.js';
import { dir, meanStd, modelPath, UR5E } from './fixtures/onnx.js';

async function loadError(path: string): Promise<string> {
  try {
    const p = await OnnxPolicy.load(path);
    await p.close();
  } catch (err) {
    assert.ok(err instanceof PolicyLoadError, `expected PolicyLoadError, got ${String(err)}`);
    return err.message;
  }
  assert.fail(`${path} loaded`);
}

describe('manifest', () => {
  test('round trip through metadata_props, a sidecar, and both (the sidecar wins)', async () => {
    const a = await writeTestPolicy(modelPath(), { ...UR5E, manifest_in: 'metadata' });
    const la = await loadModelManifest(a.path);
    assert.deepEqual(
      [la.manifest, la.source, la.file.ir_version],
      [a.manifest, `${a.path}#metadata_props.vla_manifest`, 8],
    );

    const b = await writeTestPolicy(modelPath(), { ...UR5E, manifest_in: 'sidecar' });
    assert.equal(b.sidecar_path, b.path.replace(/\.onnx$/, '.manifest.json'));
    const lb = await loadModelManifest(b.path);
    assert.deepEqual([lb.manifest, lb.source], [b.manifest, b.sidecar_path]);

    const c = await writeTestPolicy(modelPath(), { ...UR5E, manifest_in: 'both' });
    await writeFile(sidecarPath(c.path), JSON.stringify({ ...c.manifest, name: 'from-sidecar' }));
    assert.equal((await loadModelManifest(c.path)).manifest.name, 'from-sidecar');
    assert.equal(sidecarPath('/x/model.ONNX'), '/x/model.manifest.json');
    assert.equal(sidecarPath('/x/model.bin'), '/x/model.bin.manifest.json');
  });

  test('defaults are applied and the description follows the manifest', () => {
    const m = testPolicyManifest({ ...UR5E, committed: { max_length: 4 } });
    const raw = JSON.parse(JSON.stringify(m));
    delete raw.action.offset;
    const parsed = parseManifest(raw, 'x');
    assert.equal(parsed.action.offset, 1);
    const { cameras, max_committed, state_dim, kind } = describeManifest(parsed);
    assert.deepEqual(
      { cameras, max_committed, state_dim, kind },
      {
        cameras: [
          { name: 'top', width: 32, height: 24 },
          { name: 'wrist', width: 16, height: 16 },
        ],
        max_committed: 4,
        state_dim: 7,
        kind: 'onnx',
      },
    );
  });

  test('a bad manifest is refused with the field and the problem', () => {
    const good = JSON.parse(
      JSON.stringify(
        testPolicyManifest({ ...UR5E, action_normalization: meanStd(7), language: { kind: 'tokens', length: 8 } }),
      ),
    );
    // biome-ignore lint/suspicious/noExplicitAny: a manifest as parsed JSON, edited field by field to break it
    const edit = (f: (m: any) => void): unknown => {
      const m = JSON.parse(JSON.stringify(good));
      f(m);
      return m;
    };
    const cases: [string, unknown, RegExp][] = [
      [
        'semantics',
        edit((m) => {
          m.action.semantics = 'delta_joint_positions';
        }),
        /action\.semantics: only 'absolute_joint_positions' is supported, found 'delta_joint_positions'/,
      ],
      [
        'stats length',
        edit((m) => {
          m.action.normalization.mean.pop();
        }),
        /action\.normalization\.mean: expected 7 values, found 6/,
      ],
      [
        'version',
        edit((m) => {
          m.format_version = 2;
        }),
        /format_version: expected 1, found 2/,
      ],
      [
        'output shape',
        edit((m) => {
          m.output.shape = [1, 10, 6];
        }),
        /output\.shape: expected \[1, 10, 7\]/,
      ],
      [
        'unknown field',
        edit((m) => {
          m.action.horizn = 3;
        }),
        /horizn/,
      ],
      [
        'layout',
        edit((m) => {
          m.inputs.images[0].layout = 'HWC';
        }),
        /inputs\.images\.0\.layout/,
      ],
      [
        'dtype',
        edit((m) => {
          m.inputs.images[0].dtype = 'float16';
        }),
        /inputs\.images\.0\.dtype/,
      ],
      [
        'duplicate camera',
        edit((m) => {
          m.inputs.images[1].camera = 'top';
        }),
        /camera 'top' feeds two inputs/,
      ],
      [
        'duplicate input',
        edit((m) => {
          m.inputs.state.input = 'image_top';
        }),
        /input name 'image_top' is used twice/,
      ],
      [
        'uint8 normalize',
        edit((m) => {
          m.inputs.images[0].dtype = 'uint8';
        }),
        /uint8 images are fed as raw bytes/,
      ],
      [
        'language kind',
        edit((m) => {
          m.inputs.language.kind = 'text';
        }),
        /inputs\.language/,
      ],
      [
        'missing rate',
        edit((m) => {
          delete m.control_hz;
        }),
        /control_hz/,
      ],
    ];
    for (const [what, json, re] of cases) {
      assert.throws(
        () => parseManifest(json, 'm.json'),
        (err: Error) =>
          err instanceof PolicyLoadError && /^m\.json: invalid manifest: /.test(err.message) && re.test(err.message),
        what,
      );
    }
  });

  test('graph check: dynamic dims are accepted, static ones must match, ranks must agree', () => {
    const m = testPolicyManifest({ ...UR5E, cameras: [{ name: 'top', width: 32, height: 24 }] });
    const io = (img: (number | string)[], state: (number | string)[] = ['batch', 7]) => ({
      inputs: [
        { name: 'image_top', isTensor: true, type: 'float32', shape: img },
        { name: 'state', isTensor: true, type: 'float32', shape: state },
      ],
      outputs: [{ name: 'actions', isTensor: true, type: 'float32', shape: ['batch', 10, -1] }],
    });
    assert.deepEqual(checkManifestAgainstGraph(m, io(['batch', 3, 'h', 'w'])), []);
    assert.deepEqual(checkManifestAgainstGraph(m, io([])), [], 'no declared shape: nothing to check');
    assert.deepEqual(checkManifestAgainstGraph(m, io([1, 3, 24, 32], [1, 7, 1])), [
      "input 'state' (state): expected shape [1, 7], found [1, 7, 1]",
    ]);
  });

  test('checkPolicyFitsRobot: "expected X, found Y" errors; another robot is a warning only when accepted', () => {
    const aloha = describeManifest(
      testPolicyManifest({
        name: 'act-aloha',
        robot: 'aloha',
        control_hz: 30,
        cameras: [
          { name: 'top', width: 8, height: 8 },
          { name: 'left_wrist', width: 8, height: 8 },
        ],
        state_dim: 14,
        horizon: 4,
        action_dim: 14,
      }),
    );
    const ur5e = { name: 'ur5e', action_dim: 7, state_dim: 7, cameras: ['top', 'wrist'], control_hz: 50 };
    const problems = checkPolicyFitsRobot(aloha, ur5e);
    const [errors, warnings] = (['error', 'warning'] as const).map((sev) =>
      problems.filter((p) => p.severity === sev).map((p) => p.message),
    );
    assert.deepEqual(errors.slice(0, 3), [
      "action dimension: expected 7 (robot ur5e), found 14 (policy 'act-aloha')",
      "state dimension: expected 7 (robot ur5e), found 14 (policy 'act-aloha')",
      "camera: expected one of top, wrist (robot ur5e), found 'left_wrist' (policy 'act-aloha')",
    ]);
    assert.equal(errors.length, 5);
    assert.match(errors[3], /^control rate: expected 50 Hz \(robot ur5e\), found 30 Hz.*vla-run --hz 30/);
    // the flag would not help a layout that differs: it is not offered
    assert.equal(errors[4], "robot: expected ur5e, found aloha (the robot policy 'act-aloha' was trained for)");
    assert.deepEqual(warnings, []);
    const accepted = checkPolicyFitsRobot(aloha, ur5e, { allow_robot_mismatch: true });
    const robotLine = accepted.find((p) => p.message.startsWith('robot:'));
    assert.equal(robotLine?.severity, 'warning');
    assert.equal(
      accepted.find((p) => p.message.startsWith('control rate:'))?.severity,
      'error',
      'a rate is never waived',
    );
    assert.deepEqual(checkPolicyFitsRobot(describeManifest(testPolicyManifest({ ...UR5E, control_hz: 50 })), ur5e), []);
  });
});

describe('load() refuses unusable models with the file and the problem', () => {
  test('missing file, not ONNX, truncated, no manifest, bad JSON', async () => {
    await assert.rejects(
      OnnxPolicy.load(join(dir, 'x.onnx'), { intra_op_threads: 0 }),
      /x\.onnx: intra_op_threads: expected a positive integer, found 0/,
    );
    const missing = join(dir, 'nope.onnx');
    assert.equal(await loadError(missing), `${missing}: model file not found`);
    const notOnnx: [string, string | Buffer, RegExp][] = [
      ['picture.onnx', Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), /not an ONNX model/],
      ['text.onnx', '{"name": "a json file"}', /not an ONNX model/],
      ['empty.onnx', '', /not an ONNX model \(the file is empty\)/],
    ];
    for (const [name, bytes, re] of notOnnx) {
      await writeFile(join(dir, name), bytes);
      const msg = await loadError(join(dir, name));
      assert.ok(msg.startsWith(`${join(dir, name)}: `) && re.test(msg), msg);
    }
    const good = await writeTestPolicy(modelPath(), UR5E);
    const truncated = join(dir, 'truncated.onnx');
    await writeFile(truncated, (await readFile(good.path)).subarray(0, 500));
    assert.match(await loadError(truncated), /truncated\.onnx: not an ONNX model/);

    const bare = await writeTestPolicy(modelPath(), { ...UR5E, manifest_in: 'none' });
    assert.match(
      await loadError(bare.path),
      new RegExp(`^${bare.path}: no manifest: .*vla_manifest.*${sidecarPath(bare.path)}`),
    );
    await writeFile(sidecarPath(bare.path), '{ "name": ');
    assert.match(await loadError(bare.path), /\.manifest\.json: the manifest is not valid JSON/);
    await writeFile(
      sidecarPath(bare.path),
      JSON.stringify({ ...good.manifest, action: { ...good.manifest.action, semantics: 'ee_delta' } }),
    );
    assert.match(
      await loadError(bare.path),
      /\.manifest\.json: invalid manifest: action\.semantics: only 'absolute_joint_positions' is supported, found/,
    );
  });

  test('manifest and graph disagree: missing, unknown, mis-shaped and mis-typed inputs, wrong output', async () => {
    const w = await writeTestPolicy(modelPath(), { ...UR5E, language: { kind: 'tokens', length: 6 } });
    // biome-ignore lint/suspicious/noExplicitAny: a manifest as parsed JSON, edited field by field to break it
    const withSidecar = async (f: (m: any) => void): Promise<string> => {
      const m = JSON.parse(JSON.stringify(w.manifest));
      f(m);
      await writeFile(sidecarPath(w.path), JSON.stringify(m));
      return loadError(w.path);
    };
    const unknown = await withSidecar((m) => {
      delete m.inputs.language;
    });
    assert.match(
      unknown,
      new RegExp(`^${w.path}: the manifest \\(.*manifest\\.json\\) does not match the model's graph: `),
    );
    assert.match(unknown, /input 'language_tokens': the model has it, the manifest does not describe it/);
    assert.match(
      await withSidecar((m) => {
        m.inputs.state.input = 'proprio';
      }),
      /input 'proprio' \(state\): expected in the model, found no such input \(model inputs: image_top, image_wrist/,
    );
    assert.match(
      await withSidecar((m) => {
        m.inputs.images[0].width = 64;
      }),
      /input 'image_top' \(camera top\): expected shape \[1, 3, 24, 64\], found \[1, 3, 24, 32\]/,
    );
    assert.match(
      await withSidecar((m) => {
        m.inputs.images[1].layout = 'NHWC';
      }),
      /expected shape \[1, 16, 16, 3\], found \[1, 3, 16, 16\]/,
    );
    assert.match(
      await withSidecar((m) => {
        m.inputs.images[0].dtype = 'uint8';
        delete m.inputs.images[0].normalize;
      }),
      /input 'image_top' \(camera top\): expected dtype uint8, found float32/,
    );
    assert.match(
      await withSidecar((m) => {
        m.inputs.language = { kind: 'embedding', input: 'language_tokens', dim: 6 };
      }),
      /expected dtype float32, found int64/,
    );
    assert.match(
      await withSidecar((m) => {
        m.output.name = 'action';
      }),
      /output 'action': expected in the model, found no such output \(model outputs: actions\)/,
    );
    assert.match(
      await withSidecar((m) => {
        m.action.horizon = 5;
        m.output.shape = [1, 5, 7];
      }),
      /output 'actions' \(actions\): expected shape \[1, 5, 7\], found \[1, 10, 7\]/,
    );
  });

  test('a file onnxruntime cannot load', async () => {
    const { onnx } = onnxProto;
    const m = testPolicyManifest(UR5E);
    const vi = (name: string): object => ({
      name,
      type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }] } } },
    });
    const graph = {
      name: 'g',
      node: [{ opType: 'NoSuchOperator', input: ['x'], output: ['y'] }],
      input: [vi('x')],
      output: [vi('y')],
    };
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 15 }],
      graph,
      metadataProps: [{ key: 'vla_manifest', value: JSON.stringify(m) }],
    });
    const path = join(dir, 'bad-op.onnx');
    await writeFile(path, onnx.ModelProto.encode(model).finish());
    assert.match(await loadError(path), new RegExp(`^${path}: onnxruntime could not load the model: .*NoSuchOperator`));
  });
});
