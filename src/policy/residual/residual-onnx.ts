// The residual as an ONNX file: input `inputs` [1, n] (the blocks the manifest lists), Dense + ReLU layers, a last
// Dense whose tanh times the per-dimension scale is output `correction` [1, A], and the manifest in metadata
// `vla_residual`. Any ONNX tool can inspect or run it; the runtime reads the weights back into a DenseStack (the
// control tick evaluates it in JavaScript) and refuses a file that is not exactly this graph.
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import { DT, GraphBuilder, valueInfo } from '../onnx/graph-builder.js';
import { type DenseLayer, DenseStack } from './dense-stack.js';
import {
  inputSize,
  parseResidualManifest,
  RESIDUAL_METADATA_KEY,
  ResidualLoadError,
  type ResidualManifest,
} from './residual-manifest.js';

const { onnx } = onnxProto;
const INPUT = 'inputs';
const OUTPUT = 'correction';

export function buildResidualOnnx(manifest: ResidualManifest, layers: DenseLayer[]): Uint8Array {
  const n = inputSize(manifest);
  const A = manifest.action_names.length;
  if (layers[0].n_in !== n || layers[layers.length - 1].n_out !== A)
    throw new Error(`residual layers take ${layers[0].n_in} -> give ${layers.at(-1)?.n_out}; manifest: ${n} -> ${A}`);
  const gb = new GraphBuilder();
  gb.input(INPUT, DT.FLOAT, [1, n]);
  let x = INPUT;
  layers.forEach((l, i) => {
    x = gb.op('Add', [
      gb.op('MatMul', [x, gb.float(`layer${i}_w`, [l.n_in, l.n_out], l.w)]),
      gb.float(`layer${i}_b`, [l.n_out], l.b),
    ]);
    if (i + 1 < layers.length) x = gb.op('Relu', [x]);
  });
  const out = gb.op('Mul', [gb.op('Tanh', [x]), gb.float('scale', [A], manifest.scale)]);
  gb.nodes.push({ opType: 'Identity', input: [out], output: [OUTPUT], name: 'output' });
  gb.outputs.push(valueInfo(OUTPUT, DT.FLOAT, [1, A]));
  return gb.model(manifest.name, 'vla-runtime vla-finetune', { [RESIDUAL_METADATA_KEY]: JSON.stringify(manifest) });
}

export interface LoadedResidual {
  path: string;
  manifest: ResidualManifest;
  net: DenseStack;
}

/** Reads a residual file; ResidualLoadError (exit 2 at the command line) for anything but our residual graph. */
export async function loadResidualOnnx(path: string): Promise<LoadedResidual> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new ResidualLoadError(`${path}: cannot read the residual (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  return parseResidualOnnx(path, bytes);
}

export function parseResidualOnnx(path: string, bytes: Uint8Array): LoadedResidual {
  let model: ReturnType<typeof onnx.ModelProto.decode>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new ResidualLoadError(`${path}: not an ONNX model (${(err as Error).message})`);
  }
  const meta = model.metadataProps.find((p) => p.key === RESIDUAL_METADATA_KEY)?.value;
  if (!meta) throw new ResidualLoadError(`${path}: not a residual (no '${RESIDUAL_METADATA_KEY}' metadata)`);
  let json: unknown;
  try {
    json = JSON.parse(meta);
  } catch (err) {
    throw new ResidualLoadError(`${path}: '${RESIDUAL_METADATA_KEY}' is not JSON (${(err as Error).message})`);
  }
  const manifest = parseResidualManifest(json, path);
  const graph = model.graph;
  const inits = new Map((graph?.initializer ?? []).map((t) => [t.name ?? '', t]));
  const layers: DenseLayer[] = [];
  for (let i = 0; inits.has(`layer${i}_w`); i++) {
    const w = inits.get(`layer${i}_w`)!;
    const [n_in, n_out] = (w.dims ?? []).map(Number);
    layers.push({ n_in, n_out, w: floats(path, w), b: floats(path, inits.get(`layer${i}_b`)) });
  }
  const expected = [
    ...layers.flatMap((_, i) => (i + 1 < layers.length ? ['MatMul', 'Add', 'Relu'] : ['MatMul', 'Add'])),
  ];
  expected.push('Tanh', 'Mul', 'Identity');
  const found = (graph?.node ?? []).map((n) => n.opType ?? '');
  if (layers.length === 0 || found.join() !== expected.join())
    throw new ResidualLoadError(`${path}: not a vla-runtime residual graph (nodes: ${found.join(', ') || 'none'})`);
  const scale = floats(path, inits.get('scale'));
  if (scale.some((s, i) => Math.abs(s - manifest.scale[i]) > 1e-6 * Math.max(1, Math.abs(s))))
    throw new ResidualLoadError(`${path}: the graph's scale differs from the manifest's`);
  let net: DenseStack;
  try {
    net = new DenseStack(layers);
  } catch (err) {
    throw new ResidualLoadError(`${path}: ${(err as Error).message}`);
  }
  if (net.n_in !== inputSize(manifest) || net.n_out !== manifest.action_names.length)
    throw new ResidualLoadError(
      `${path}: the network maps ${net.n_in} -> ${net.n_out}, the manifest says ` +
        `${inputSize(manifest)} -> ${manifest.action_names.length}`,
    );
  return { path, manifest, net };
}

function floats(path: string, t: onnxProto.onnx.ITensorProto | undefined): Float32Array {
  if (!t?.rawData || t.dataType !== DT.FLOAT)
    throw new ResidualLoadError(`${path}: initializer ${t?.name ?? '(missing)'} is not raw float32`);
  const raw = t.rawData;
  // copy: rawData may sit at an offset that Float32Array cannot view
  const w = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  // a diverged training run can export NaN weights: refuse them here, before anything moves
  const bad = w.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) throw new ResidualLoadError(`${path}: initializer ${t.name} holds ${w[bad]} at index ${bad}`);
  return w;
}

/** SHA-256 (hex) of a file: the identity of a base model a residual was trained on. */
export async function fileSha256(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

export async function writeResidualOnnx(path: string, manifest: ResidualManifest, layers: DenseLayer[]): Promise<void> {
  await writeFile(path, buildResidualOnnx(manifest, layers));
}
