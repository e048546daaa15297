import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeManifest, type OnnxManifest } from '../src/policy/onnx/manifest.js';
import { type TestPolicySpec, testPolicyManifest, writeTestPolicy } from '../src/policy/onnx/model-writer.js';
import { OnnxPolicy } from '../src/policy/onnx/onnx-policy.js';
import {
  buildResizeMap,
  normalizer,
  Preprocessor,
  padCommittedPrefix,
  pixelAffine,
  unnormalizer,
  writeImageTensor,
} from '../src/policy/onnx/preprocess.js';
import type { Observation } from '../src/policy/policy.js';
import { PolicyFailure } from '../src/policy/policy.js';
import { meanStd, modelPath, UR5E } from './fixtures/onnx.js';

function image(name: string, width: number, height: number, seed = 1): Observation['images'][number] {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37 + seed * 101 + ((i * i) >> 7)) & 255;
  return { name, width, height, rgb, t_mono_ms: 0 };
}

function observation(m: OnnxManifest, tick: number, seed = 1, size?: [number, number]): Observation {
  return {
    tick,
    t_mono_ms: 0,
    state: Float32Array.from({ length: m.inputs.state?.dim ?? m.action.dim }, (_, i) => 0.1 * i + 0.01 * seed),
    images: m.inputs.images.map((c) => image(c.camera, size?.[0] ?? c.width, size?.[1] ?? c.height, seed)),
  };
}

async function withPolicy(spec: TestPolicySpec, fn: (p: OnnxPolicy, m: OnnxManifest) => Promise<void>): Promise<void> {
  const w = await writeTestPolicy(modelPath(), spec);
  const p = await OnnxPolicy.load(w.path);
  try {
    await fn(p, w.manifest);
  } finally {
    await p.close();
  }
}

describe('pre-processing', () => {
  test('resize of a known pattern: halving a ramp averages pixel pairs, a flat image stays flat', () => {
    const sw = 8,
      sh = 4;
    const src = new Uint8Array(sw * sh * 3);
    for (let y = 0; y < sh; y++) for (let x = 0; x < sw; x++) src.set([x * 10, y * 20, 200], (y * sw + x) * 3);
    const dst = new Float32Array(3 * 2 * 4);
    writeImageTensor(src, buildResizeMap(sw, sh, 4, 2), 'NCHW', dst, {
      k: Float32Array.of(1, 1, 1),
      b: new Float32Array(3),
    });
    assert.deepEqual(Array.from(dst.subarray(0, 8)), [5, 25, 45, 65, 5, 25, 45, 65]); // R: mean of x=2i, 2i+1
    assert.deepEqual(Array.from(dst.subarray(8, 16)), [10, 10, 10, 10, 50, 50, 50, 50]); // G: mean of y=2j, 2j+1
    assert.deepEqual(Array.from(dst.subarray(16, 24)), new Array(8).fill(200));
  });

  test('matches a reference implementation for every layout, dtype and size', () => {
    const sizes: [number, number, number, number][] = [
      [640, 480, 224, 224],
      [37, 91, 64, 48],
      [24, 24, 24, 24],
      [1, 1, 5, 3],
      [300, 10, 7, 50],
    ];
    for (const [sw, sh, dw, dh] of sizes) {
      const { rgb } = image('x', sw, sh, sw + dh);
      const ref = referenceResize(rgb, sw, sh, dw, dh);
      for (const layout of ['NCHW', 'NHWC'] as const) {
        for (const dtype of ['float32', 'uint8'] as const) {
          const spec = {
            input: 'i',
            camera: 'c',
            width: dw,
            height: dh,
            layout,
            dtype,
            normalize:
              dtype === 'float32'
                ? { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }
                : undefined,
          };
          const dst = dtype === 'float32' ? new Float32Array(dw * dh * 3) : new Uint8Array(dw * dh * 3);
          writeImageTensor(
            rgb,
            buildResizeMap(sw, sh, dw, dh),
            layout,
            dst,
            dtype === 'float32' ? pixelAffine(spec) : undefined,
          );
          let worst = 0;
          for (let y = 0; y < dh; y++)
            for (let x = 0; x < dw; x++)
              for (let c = 0; c < 3; c++) {
                const v = ref[(y * dw + x) * 3 + c];
                const want =
                  dtype === 'uint8' ? Math.round(v) : (v / 255 - spec.normalize!.mean[c]) / spec.normalize!.std[c];
                const got = dst[layout === 'NCHW' ? c * dw * dh + y * dw + x : (y * dw + x) * 3 + c];
                worst = Math.max(worst, Math.abs(got - want));
              }
          assert.ok(
            worst <= (dtype === 'uint8' ? 1 : 1e-4),
            `${sw}x${sh}->${dw}x${dh} ${layout} ${dtype}: off by ${worst}`,
          );
        }
      }
    }
  });

  test('state and action normalisation (mean/std, min/max) invert each other', () => {
    const x = [0.3, -1.2, 2.5];
    for (const stats of [
      { kind: 'mean_std' as const, mean: [0.1, -1, 2], std: [0.5, 0.2, 1.5], eps: 0 },
      { kind: 'min_max' as const, min: [0, -2, 1], max: [1, 0, 3], eps: 0 },
    ]) {
      const nrm = normalizer(stats, 3),
        un = unnormalizer(stats, 3);
      const y = x.map((v, i) => v * nrm.scale[i] + nrm.shift[i]);
      if (stats.kind === 'mean_std') assert.ok(Math.abs(y[0] - (0.3 - 0.1) / 0.5) < 1e-12);
      else assert.ok(Math.abs(y[1] - ((2 * (-1.2 + 2)) / 2 - 1)) < 1e-12);
      y.forEach((v, i) => {
        assert.ok(Math.abs(v * un.scale[i] + un.shift[i] - x[i]) < 1e-12);
      });
    }
    const m = testPolicyManifest({
      ...UR5E,
      cameras: [],
      state_normalization: { kind: 'min_max', min: new Array(7).fill(-1), max: new Array(7).fill(3) },
    });
    const pre = new Preprocessor(m);
    pre.writeState(Float32Array.of(-1, 3, 1, 0, 0, 0, 0));
    const state = pre.feeds.find((f) => f.name === 'state')!.data as Float32Array;
    assert.deepEqual(
      Array.from(state.subarray(0, 3)).map((v) => Math.round(v * 1e6) / 1e6 + 0),
      [-1, 1, 0],
    );
  });

  test('committed prefix: pad by repeating the last committed action, or the current state, never zeros', () => {
    const dst = new Float32Array(10).fill(-99);
    const pad = (actions: Float32Array | undefined, count: number): [number, number[]] => [
      padCommittedPrefix(actions, count, 2, Float32Array.of(7, 8), dst, 5),
      Array.from(dst),
    ];
    assert.deepEqual(pad(Float32Array.of(1, 2, 3, 4), 2), [2, [1, 2, 3, 4, 3, 4, 3, 4, 3, 4]]);
    assert.deepEqual(pad(undefined, 0), [0, [7, 8, 7, 8, 7, 8, 7, 8, 7, 8]]);
    assert.deepEqual(
      pad(
        Float32Array.from({ length: 14 }, (_, i) => i + 1),
        7,
      ),
      [5, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]],
    );
    // a count larger than the actions given: only the rows that exist are real
    assert.deepEqual(pad(Float32Array.of(1, 2), 3), [1, [1, 2, 1, 2, 1, 2, 1, 2, 1, 2]]);
  });
});

describe('OnnxPolicy through the worker', () => {
  test('constant model: shapes, stamps and un-normalised actions exactly', async () => {
    const H = 6,
      D = 7;
    const constant = Float32Array.from({ length: H * D }, (_, i) => Math.sin(i));
    const stats = meanStd(D);
    await withPolicy(
      { ...UR5E, horizon: H, action_offset: 2, mode: 'constant', constant, action_normalization: stats },
      async (p, m) => {
        assert.equal(p.warmup_ms.length, 1);
        assert.deepEqual(p.describe(), describeManifest(m));
        const chunk = await p.infer(observation(m, 40));
        assert.deepEqual(
          { ...chunk, actions: chunk.actions.length, infer_ms: 0 },
          { obs_tick: 40, first_tick: 42, horizon: H, dim: D, actions: H * D, infer_ms: 0 },
        );
        assert.ok(chunk.actions instanceof Float32Array);
        assert.ok(chunk.infer_ms > 0 && chunk.infer_ms < 10_000);
        const expected = Float32Array.from(constant, (c, i) => c * stats.std[i % D] + stats.mean[i % D]);
        chunk.actions.forEach((a, i) => {
          assert.ok(Math.abs(a - expected[i]) < 1e-6, `action ${i}: ${a} vs ${expected[i]}`);
        });
      },
    );
  });

  test('net model: outputs follow inputs; any frame size; transports agree; arrays reusable', async () => {
    const w = await writeTestPolicy(modelPath(), {
      ...UR5E,
      cameras: [
        { name: 'top', width: 32, height: 24 },
        { name: 'wrist', width: 16, height: 16, layout: 'NHWC', dtype: 'uint8' },
      ],
      language: { kind: 'embedding', dim: 16 },
    });
    const shared = await OnnxPolicy.load(w.path);
    const copy = await OnnxPolicy.load(w.path, { transport: 'copy', warmup_runs: 0, intra_op_threads: 2 });
    try {
      const a = (await shared.infer(observation(w.manifest, 1, 1))).actions;
      assert.deepEqual((await shared.infer(observation(w.manifest, 2, 1))).actions, a, 'deterministic');
      assert.notDeepEqual(
        (await shared.infer(observation(w.manifest, 3, 2))).actions,
        a,
        'other images and state, other actions',
      );
      const obs = observation(w.manifest, 4, 1);
      obs.state[0] += 0.5;
      assert.notDeepEqual((await shared.infer(obs)).actions, a, 'state matters');
      // a 640x480 frame is resized in the worker
      const big = observation(w.manifest, 5, 1, [640, 480]);
      const c = (await shared.infer(big)).actions;
      assert.deepEqual((await copy.infer(big)).actions, c);
      // overwrite the frames right after the call: the request already holds its own copy
      for (const [t, p] of [
        ['shared', shared],
        ['copy', copy],
      ] as const) {
        const o = observation(w.manifest, 6, 1, [640, 480]);
        const pending = p.infer(o);
        for (const img of o.images) img.rgb.fill(0);
        o.state.fill(0);
        assert.deepEqual((await pending).actions, c, t);
        assert.equal(o.images[0].rgb.length, 640 * 480 * 3, "the caller's arrays stay usable");
      }
    } finally {
      await shared.close();
      await copy.close();
    }
  });

  test('committed prefix reaches the model padded with the last committed action, with its length', async () => {
    const H = 6,
      D = 7,
      stats = meanStd(D);
    await withPolicy(
      {
        ...UR5E,
        horizon: H,
        mode: 'echo_prefix',
        committed: { max_length: 4, length_input: true },
        action_normalization: stats,
        language: { kind: 'tokens', length: 5 },
      },
      async (p, m) => {
        assert.equal(p.describe().max_committed, 4);
        const obs = observation(m, 10);
        const actions = Float32Array.from({ length: 2 * D }, (_, i) => 1 + i);
        obs.committed = { actions, count: 2 };
        const out = (await p.infer(obs)).actions;
        // normalised in the worker, echoed, un-normalised back: the padded prefix in robot units
        const r4 = (xs: ArrayLike<number>): number[] => Array.from(xs, (v) => Math.round(v * 1e4) / 1e4);
        const row = (a: Float32Array, r: number): number[] => r4(a.subarray(r * D, (r + 1) * D));
        for (const [r, want] of [
          [0, 0],
          [1, 1],
          [2, 1],
          [3, 1],
        ])
          assert.deepEqual(row(out, r), row(actions, want), `row ${r}`);
        // rows past max_length are the echo model's zero padding: the normalised zero is the mean
        assert.deepEqual(row(out, 4), r4(stats.mean));
        delete obs.committed;
        assert.deepEqual(
          row((await p.infer(obs)).actions, 0),
          r4(obs.state),
          'nothing committed: the current position',
        );
      },
    );
  });

  test('NaN model: the NaN reaches the chunk (the runtime rejects it)', async () => {
    await withPolicy({ ...UR5E, mode: 'nan', nan_index: 3 }, async (p, m) => {
      const { actions } = await p.infer(observation(m, 0));
      assert.ok(Number.isNaN(actions[3]));
      assert.ok(Number.isFinite(actions[2]));
    });
  });

  test('two concurrent calls: the second is refused, the first completes, the policy stays usable', async () => {
    await withPolicy(UR5E, async (p, m) => {
      const first = p.infer(observation(m, 1));
      await assert.rejects(
        p.infer(observation(m, 2)),
        (err: Error) => !(err instanceof PolicyFailure) && /in flight/.test(err.message),
      );
      assert.equal((await first).obs_tick, 1);
      assert.equal((await p.infer(observation(m, 3))).obs_tick, 3);
    });
  });

  test('a bad observation is refused without breaking the policy', async () => {
    await withPolicy(UR5E, async (p, m) => {
      const obs = observation(m, 1);
      await assert.rejects(
        p.infer({ ...obs, images: obs.images.slice(0, 1) }),
        /camera 'wrist': expected a frame, found none \(frames: top\)/,
      );
      await assert.rejects(p.infer({ ...obs, state: new Float32Array(6) }), /state: expected 7 values, found 6/);
      await assert.rejects(
        p.infer({ ...obs, images: [{ ...obs.images[0], width: 100 }, obs.images[1]] }),
        /camera 'top': expected 7200 bytes of 100x24 RGB, found 2304/,
      );
      assert.equal((await p.infer(obs)).obs_tick, 1);
    });
  });

  for (const how of ['terminate', 'exit', 'throw'] as const) {
    test(`a dead worker (${how}) fails the pending call and every later one with PolicyFailure`, async () => {
      await withPolicy(UR5E, async (p, m) => {
        const obs = observation(m, 1);
        p.crashWorkerForTest(how);
        const pending = p.infer(obs); // in flight when the worker dies
        const message =
          how === 'throw'
            ? /worker for .*model-\d+\.onnx crashed: crash requested by a test/
            : /worker for .*model-\d+\.onnx exited \(code \d+\)/;
        await assert.rejects(pending, (err: Error) => err instanceof PolicyFailure && message.test(err.message));
        await assert.rejects(p.infer(obs), (err: Error) => err instanceof PolicyFailure && message.test(err.message));
      });
    });
  }

  test('close() ends the worker; later calls fail with PolicyFailure', async () => {
    await withPolicy(UR5E, async (p, m) => {
      await p.close();
      await assert.rejects(
        p.infer(observation(m, 1)),
        (err: Error) => err instanceof PolicyFailure && /closed/.test(err.message),
      );
    });
  });
});

/** Straightforward bilinear (half-pixel centres, clamped) into [H][W][3] doubles. */
function referenceResize(src: Uint8Array, sw: number, sh: number, dw: number, dh: number): Float64Array {
  const out = new Float64Array(dw * dh * 3);
  const coord = (d: number, s: number, dn: number): [number, number, number] => {
    const v = Math.min(Math.max((d + 0.5) * (s / dn) - 0.5, 0), s - 1);
    const lo = Math.floor(v);
    return [lo, Math.min(lo + 1, s - 1), v - lo];
  };
  for (let y = 0; y < dh; y++) {
    const [ya, yb, fy] = coord(y, sh, dh);
    for (let x = 0; x < dw; x++) {
      const [xa, xb, fx] = coord(x, sw, dw);
      for (let c = 0; c < 3; c++) {
        const p = (yy: number, xx: number): number => src[(yy * sw + xx) * 3 + c];
        out[(y * dw + x) * 3 + c] =
          (1 - fy) * ((1 - fx) * p(ya, xa) + fx * p(ya, xb)) + fy * ((1 - fx) * p(yb, xa) + fx * p(yb, xb));
      }
    }
  }
  return out;
}
