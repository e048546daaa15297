// The inputs and outputs an ONNX graph declares, as ONNX Runtime reads them (names, element types, shapes
// with their dynamic dimensions). For tools that describe a model (vla-manifest) rather than run it: the
// session is opened on the calling thread and released at once.
import { InferenceSession } from 'onnxruntime-node';
import { type GraphValue, PolicyLoadError } from './manifest.js';
import { readOnnxFileInfo } from './onnx-file.js';

export interface GraphInfo {
  inputs: GraphValue[];
  outputs: GraphValue[];
}

/** Rejects with PolicyLoadError when the file is missing, not ONNX, or ONNX Runtime cannot load it. */
export async function readGraphInfo(modelPath: string): Promise<GraphInfo> {
  await readOnnxFileInfo(modelPath); // a clear message for a missing or non-ONNX file
  let session: InferenceSession;
  try {
    session = await InferenceSession.create(modelPath, {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      logSeverityLevel: 3,
    });
  } catch (err) {
    throw new PolicyLoadError(`${modelPath}: onnxruntime could not load the model: ${(err as Error).message}`);
  }
  const plain = (v: InferenceSession.ValueMetadata): GraphValue =>
    v.isTensor
      ? { name: v.name, isTensor: true, type: v.type, shape: [...v.shape] }
      : { name: v.name, isTensor: false };
  try {
    return { inputs: session.inputMetadata.map(plain), outputs: session.outputMetadata.map(plain) };
  } finally {
    await session.release();
  }
}

/** `[1, 3, 'height', 'width']` for a message; `[]` (no declared shape) as `(no shape)`. */
export function formatShape(shape: readonly (number | string)[] | undefined): string {
  if (!shape || shape.length === 0) return '(no shape)';
  return `[${shape.map((d) => (typeof d === 'number' && d < 0 ? '?' : String(d))).join(', ')}]`;
}

/** A dimension's size when the graph fixes it, else undefined (symbolic or -1). */
export function staticDim(d: number | string | undefined): number | undefined {
  return typeof d === 'number' && d >= 0 ? d : undefined;
}
