// A trained feature head (head-net.ts) spliced into its base model: the head reads the base model's own inputs
// (one camera's normalised image, the normalised state) and its outputs are appended to the `features` output.
// The actions are untouched: verifyHead runs both files in ONNX Runtime and refuses any difference, bit for bit,
// and checks that the spliced head computes what the trained one does. So a residual policy sees the head's
// estimates, and the runtime needs nothing new: it is still one model with a features output.

import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { attrInt, attrInts, DT, GraphBuilder, valueInfo } from '../policy/onnx/graph-builder.js';
import { MANIFEST_METADATA_KEY, type OnnxManifest, parseManifest } from '../policy/onnx/manifest.js';
import { Rng } from '../util/rng.js';
import { checkSameActions } from './add-features.js';
import { cameraMapsGraph } from './export-onnx.js';
import { type HeadWeights, unitYawPairs } from './head-net.js';
import { runHead } from './head-trainer.js';
import { geometry, IMAGE_NORM, keypointGrid } from './policy-net.js';
import { tfWasm } from './tf-backend.js';

const { onnx } = onnxProto;

/** Metadata key of what a spliced head estimates and how it was trained. */
export const HEAD_METADATA_KEY = 'vla_feature_head';

export interface HeadMetadata {
  camera: string;
  outputs: string[];
  /** The features the base model gave before (the head's come after them). */
  base_features_dim: number;
  base_sha256: string;
  training: unknown;
}

export class HeadSpliceError extends Error {}

/** What a model's spliced feature head gives (undefined: the model has none). */
export function readHeadMetadata(bytes: Uint8Array): HeadMetadata | undefined {
  const value = onnx.ModelProto.decode(bytes).metadataProps.find((p) => p.key === HEAD_METADATA_KEY)?.value;
  return value ? (JSON.parse(value) as HeadMetadata) : undefined;
}

/** The base model's manifest, with what the head needs from it checked; refuses a model that has a head. */
export function headBaseManifest(bytes: Uint8Array, where: string): OnnxManifest {
  const model = onnx.ModelProto.decode(bytes);
  const meta = model.metadataProps.find((p) => p.key === MANIFEST_METADATA_KEY);
  if (!model.graph || !meta?.value) throw new HeadSpliceError(`${where}: no manifest in the model's metadata`);
  if (model.metadataProps.some((p) => p.key === HEAD_METADATA_KEY))
    throw new HeadSpliceError(`${where}: it has a feature head already; start from the model without one`);
  const manifest = parseManifest(JSON.parse(meta.value), where);
  if (!manifest.features)
    throw new HeadSpliceError(`${where}: no features output (vla-manifest add-features adds a vla-train model's)`);
  if (!manifest.inputs.state) throw new HeadSpliceError(`${where}: no state input; the head reads the state`);
  return manifest;
}

export function spliceHead(
  base: Uint8Array,
  w: HeadWeights,
  meta: Omit<HeadMetadata, 'outputs' | 'base_features_dim'>,
  where: string,
): Uint8Array {
  const manifest = headBaseManifest(base, where);
  const c = w.config;
  const img = manifest.inputs.images.find((i) => i.camera === c.camera);
  const norm = img?.normalize;
  const sameNorm = norm?.mean.every((m, i) => m === IMAGE_NORM.mean[i] && norm.std[i] === IMAGE_NORM.std[i]);
  if (img?.layout !== 'NCHW' || img.width !== c.image_px || img.height !== c.image_px || !sameNorm)
    throw new HeadSpliceError(
      `${where}: camera '${c.camera}' is not a ${c.image_px}x${c.image_px} NCHW input normalised as vla-train does`,
    );
  const state = manifest.inputs.state as NonNullable<OnnxManifest['inputs']['state']>;
  const features = manifest.features as NonNullable<OnnxManifest['features']>;
  const model = onnx.ModelProto.decode(base);
  const graph = model.graph as NonNullable<typeof model.graph>;
  const head = headGraph(w, img.input, state.input);
  // the base's features keep their name inside the graph as <name>_base; the output is now [base, head]
  const baseName = `${features.name}_base`;
  for (const n of graph.node ?? []) {
    n.output = (n.output ?? []).map((o) => (o === features.name ? baseName : o));
    n.input = (n.input ?? []).map((i) => (i === features.name ? baseName : i));
  }
  const joined = {
    opType: 'Concat',
    input: [baseName, head.output],
    output: [features.name],
    attribute: [attrInt('axis', 1)],
    name: 'head_features',
  };
  graph.node = [...(graph.node ?? []), ...head.gb.nodes, joined];
  graph.initializer = [...(graph.initializer ?? []), ...head.gb.inits];
  const dim = features.dim + c.outputs.length;
  graph.output = (graph.output ?? []).map((o) =>
    o.name === features.name ? valueInfo(features.name, DT.FLOAT, [1, dim]) : o,
  );
  const next = { ...manifest, name: `${manifest.name}+head`, features: { ...features, dim } };
  const full: HeadMetadata = { ...meta, outputs: c.outputs.map((o) => o.name), base_features_dim: features.dim };
  model.metadataProps = [
    ...model.metadataProps.filter((p) => p.key !== MANIFEST_METADATA_KEY),
    { key: MANIFEST_METADATA_KEY, value: JSON.stringify(next) },
    { key: HEAD_METADATA_KEY, value: JSON.stringify(full) },
  ];
  return onnx.ModelProto.encode(model).finish();
}

/** The head as ONNX nodes over the base model's image and state inputs; `output` is [1, outputs]. */
function headGraph(w: HeadWeights, imageInput: string, stateInput: string): { gb: GraphBuilder; output: string } {
  const c = w.config;
  const g = geometry({ ...c, cameras: 1, horizon: 1, action_dim: c.outputs.length });
  const gb = new GraphBuilder('head_');
  const maps = cameraMapsGraph(gb, imageInput, `head_${c.camera}`, w.cam, c, g);
  const grid = gb.float('head_keypoint_grid', [g.k * g.k, 2], keypointGrid(g.k));
  const kp = gb.op('Reshape', [
    gb.op('MatMul', [gb.op('Softmax', [maps], [attrInt('axis', 2)]), grid]),
    gb.int64('head_kp_shape', [1, 2 * c.c2]),
  ]);
  const strength = gb.op('ReduceMax', [gb.op('Relu', [maps])], [attrInts('axes', [2]), attrInt('keepdims', 0)]);
  let z = gb.op('Concat', [kp, strength, stateInput], [attrInt('axis', 1)]);
  w.mlp.forEach((l, i) => {
    z = gb.op('Add', [
      gb.op('MatMul', [z, gb.float(`head_mlp${i}_w`, [l.in, l.out], l.w)]),
      gb.float(`head_mlp${i}_b`, [l.out], l.b),
    ]);
    if (i < w.mlp.length - 1) z = gb.op('Relu', [z]);
  });
  const k = c.outputs.length;
  const u = unitYawPairs(c.outputs);
  const norm = gb.op('Sqrt', [
    gb.op('Add', [
      gb.op('MatMul', [gb.op('Mul', [z, z]), gb.float('head_pairs', [k, k], u.pairs)]),
      gb.float('head_offset', [k], u.offset),
    ]),
  ]);
  return { gb, output: gb.op('Div', [z, norm]) };
}

export interface HeadCheck {
  trials: number;
  /** Largest difference between the spliced head's outputs (ONNX Runtime) and the trained head's (tfjs). */
  max_abs_diff: number;
  features_dim: number;
}

/**
 * The spliced model computes the base's actions bit for bit and the base's features unchanged, and its appended
 * features are the head's outputs on the same random images and states; throws otherwise (nothing is written).
 */
export async function verifyHead(
  before: Uint8Array,
  after: Uint8Array,
  w: HeadWeights,
  trials = 3,
): Promise<HeadCheck> {
  const features_dim = await checkSameActions(before, after);
  const manifest = headBaseManifest(before, 'the base model');
  const c = w.config;
  const [a, b] = [await ort.InferenceSession.create(before), await ort.InferenceSession.create(after)];
  const rng = new Rng(13);
  let max = 0;
  try {
    for (let t = 0; t < trials; t++) {
      const rgb = Uint8Array.from({ length: 3 * c.image_px ** 2 }, () => Math.floor(rng.next() * 256));
      const state = Float32Array.from({ length: c.state_dim }, () => rng.normal());
      const feeds = randomFeeds(manifest, rng, c.camera, rgb, state);
      const [x, y] = [await a.run(feeds), await b.run(feeds)];
      const name = (manifest.features as NonNullable<OnnxManifest['features']>).name;
      const [p, q] = [x[name].data as Float32Array, y[name].data as Float32Array];
      if (p.some((v, i) => !Object.is(v, q[i])))
        throw new HeadSpliceError("the spliced model changed the base model's features");
      const [expected] = runHead(await tfWasm(), w, [{ episode: 0, image: rgb, state, truth: [] }]);
      expected.forEach((v, i) => {
        max = Math.max(max, Math.abs(v - q[p.length + i]));
      });
    }
  } finally {
    await a.release();
    await b.release();
  }
  if (!(max < 1e-3)) throw new HeadSpliceError(`the spliced head differs from the trained one by ${max}`);
  return { trials, max_abs_diff: max, features_dim };
}

function randomFeeds(
  m: OnnxManifest,
  rng: Rng,
  camera: string,
  rgb: Uint8Array,
  state: Float32Array,
): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const img of m.inputs.images) {
    const px = img.width * img.height;
    const chw = new Float32Array(3 * px);
    if (img.camera === camera) {
      for (let p = 0; p < px; p++)
        for (let ch = 0; ch < 3; ch++)
          chw[ch * px + p] = (rgb[p * 3 + ch] * IMAGE_NORM.scale - IMAGE_NORM.mean[ch]) / IMAGE_NORM.std[ch];
    } else for (let i = 0; i < chw.length; i++) chw[i] = rng.normal();
    feeds[img.input] = new ort.Tensor('float32', chw, [1, 3, img.height, img.width]);
  }
  const st = m.inputs.state as NonNullable<OnnxManifest['inputs']['state']>;
  feeds[st.input] = new ort.Tensor('float32', state, [1, st.dim]);
  return feeds;
}
