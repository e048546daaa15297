// Models exported by an earlier vla-train have no features output. Their keypoints are in the graph already
// (each camera's spatial-softmax keypoints, concatenated with the state before the MLP): this adds them as the
// `features` output and to the manifest, exactly as today's exporter writes them. Same weights, same actions.
import onnxProto from 'onnx-proto';
import { DT, valueInfo } from '../policy/onnx/graph-builder.js';
import { imageDims, MANIFEST_METADATA_KEY, parseManifest } from '../policy/onnx/manifest.js';
import { Rng } from '../util/rng.js';
import { FEATURES_OUTPUT } from './export-onnx.js';

const { onnx } = onnxProto;

export function addFeaturesOutput(bytes: Uint8Array, where: string): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  const meta = model.metadataProps.find((p) => p.key === MANIFEST_METADATA_KEY);
  if (!graph || !meta?.value) throw new Error(`${where}: not a vla-train model (no graph or no manifest)`);
  // decoded repeated fields are arrays; the generated types say they may be absent
  const nodes = graph.node ?? [];
  const outputs = graph.output ?? [];
  if (outputs.some((o) => o.name === FEATURES_OUTPUT)) throw new Error(`${where}: it has a features output already`);
  // the MLP's input: Concat(keypoints of each camera..., state)
  const concat = nodes.find((n) => n.opType === 'Concat' && n.input?.at(-1) === 'state');
  if (!concat) throw new Error(`${where}: no Concat(keypoints..., state) node: not a vla-train model`);
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const kps = (concat.input ?? []).slice(0, -1);
  let dim = 0;
  for (const kp of kps) {
    const reshape = nodes.find((n) => n.output?.[0] === kp && n.opType === 'Reshape');
    const shape = reshape && inits.get(reshape.input?.[1] ?? '');
    if (!shape?.rawData) throw new Error(`${where}: input '${kp}' of the MLP is not a keypoint reshape`);
    const dims = new BigInt64Array(Uint8Array.from(shape.rawData).buffer); // a copy: rawData may sit unaligned
    dim += Number(dims[1]);
  }
  const keypoints = 'features_concat';
  const axis = { name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 };
  nodes.push(
    onnx.NodeProto.create({ opType: 'Concat', input: kps, output: [keypoints], attribute: [axis], name: keypoints }),
    onnx.NodeProto.create({ opType: 'Identity', input: [keypoints], output: [FEATURES_OUTPUT], name: 'features' }),
  );
  outputs.push(onnx.ValueInfoProto.create(valueInfo(FEATURES_OUTPUT, DT.FLOAT, [1, dim])));
  const manifest = parseManifest(JSON.parse(meta.value), where);
  meta.value = JSON.stringify({ ...manifest, features: { name: FEATURES_OUTPUT, dim } });
  graph.node = nodes;
  graph.output = outputs;
  return onnx.ModelProto.encode(model).finish();
}

/**
 * Runs the model before and after on the same random inputs (of the manifest's shapes) in ONNX Runtime: the
 * actions must be identical, bit for bit; returns the features size seen.
 */
export async function checkSameActions(before: Uint8Array, after: Uint8Array, trials = 3): Promise<number> {
  const ort = await import('onnxruntime-node');
  const [a, b] = [await ort.InferenceSession.create(before), await ort.InferenceSession.create(after)];
  const manifest = parseManifest(JSON.parse(manifestText(after)), 'upgraded model');
  const rng = new Rng(11);
  let dim = 0;
  try {
    for (let t = 0; t < trials; t++) {
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
      for (const img of manifest.inputs.images) {
        const dims = imageDims(img);
        feeds[img.input] = new ort.Tensor(
          'float32',
          Float32Array.from({ length: 3 * img.height * img.width }, () => rng.normal()),
          dims,
        );
      }
      const st = manifest.inputs.state;
      if (st)
        feeds[st.input] = new ort.Tensor(
          'float32',
          Float32Array.from({ length: st.dim }, () => rng.normal()),
          [1, st.dim],
        );
      const [x, y] = [await a.run(feeds), await b.run(feeds)];
      const [p, q] = [x[manifest.output.name].data as Float32Array, y[manifest.output.name].data as Float32Array];
      if (p.length !== q.length || p.some((v, i) => !Object.is(v, q[i])))
        throw new Error('the upgraded model computes other actions than the original: not written');
      dim = (y[FEATURES_OUTPUT].data as Float32Array).length;
    }
  } finally {
    await a.release();
    await b.release();
  }
  return dim;
}

function manifestText(bytes: Uint8Array): string {
  return onnx.ModelProto.decode(bytes).metadataProps.find((p) => p.key === MANIFEST_METADATA_KEY)?.value ?? '{}';
}
