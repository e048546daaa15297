// The inference thread: owns the onnxruntime session and the Preprocessor, so pre-processing, the
// model and un-normalisation all run off the main thread. Started by OnnxPolicy with a WorkerInit as
// workerData; speaks the messages in protocol.ts.

import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { ownHeap } from '../../telemetry/thread-heaps.js';
import { checkManifestAgainstGraph } from './manifest.js';
import { Preprocessor } from './preprocess.js';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';

if (!parentPort) throw new Error('onnx-worker.ts runs as a worker thread (started by OnnxPolicy)');
const port = parentPort;
const init = workerData as WorkerInit;

function post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

async function start(): Promise<void> {
  let session: InferenceSession;
  try {
    session = await InferenceSession.create(init.model_path, {
      executionProviders: ['cpu'],
      intraOpNumThreads: init.intra_op_threads,
      // one model, one request at a time: a second pool would only compete with the control loop
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // errors only: warnings would interleave with the runtime's JSON log lines on stderr
      logSeverityLevel: 3,
    });
  } catch (err) {
    post({ type: 'load_error', message: `onnxruntime could not load the model: ${(err as Error).message}` });
    return;
  }
  const problems = checkManifestAgainstGraph(init.manifest, {
    inputs: session.inputMetadata,
    outputs: session.outputMetadata,
  });
  if (problems.length > 0) {
    post({
      type: 'load_error',
      message: `the manifest (${init.manifest_source}) does not match the model's graph: ${problems.join('; ')}`,
    });
    await session.release();
    return;
  }
  const pre = new Preprocessor(init.manifest);
  // tensors wrap the preprocessor's buffers once; writing the buffers updates what the next run sees
  const feeds: Record<string, Tensor> = {};
  for (const f of pre.feeds) feeds[f.name] = new Tensor(f.dtype, f.data, f.dims);
  const outputName = init.manifest.output.name;

  // the first runs are slow (allocations, kernel selection); take them before the robot waits on one
  const warmup_ms: number[] = [];
  for (let i = 0; i < init.warmup_runs; i++) {
    const t0 = performance.now();
    try {
      await session.run(feeds);
    } catch (err) {
      post({
        type: 'load_error',
        message: `the model fails on inputs of the manifest's shapes: ${(err as Error).message}`,
      });
      return;
    }
    warmup_ms.push(performance.now() - t0);
  }

  const frames: { rgb: Uint8Array; width: number; height: number }[] = init.manifest.inputs.images.map(() => ({
    rgb: new Uint8Array(0),
    width: 0,
    height: 0,
  }));
  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'crash_for_test') return crash(msg.how);
    void infer(msg);
  });

  async function infer(msg: Extract<ToWorker, { type: 'infer' }>): Promise<void> {
    const t0 = performance.now();
    try {
      msg.frames.forEach((f, i) => {
        frames[i].width = f.width;
        frames[i].height = f.height;
        frames[i].rgb = f.rgb ?? new Uint8Array(f.shared!, 0, f.width * f.height * 3);
      });
      pre.write({ state: msg.state, frames, committed: msg.committed });
    } catch (err) {
      post({ type: 'infer_error', id: msg.id, message: `pre-processing: ${(err as Error).message}`, fatal: false });
      return;
    }
    try {
      const out = await session.run(feeds);
      const y = out[outputName];
      if (y.type !== 'float32') throw new Error(`output '${outputName}': expected float32, found ${y.type}`);
      const actions = new Float32Array(pre.horizon * pre.dim);
      pre.unnormalizeActions(y.data as Float32Array, actions);
      y.dispose();
      const features = featuresOf(out, init.manifest.features);
      const transfer: ArrayBuffer[] = features ? [actions.buffer, features.buffer as ArrayBuffer] : [actions.buffer];
      const infer_ms = performance.now() - t0;
      post({ type: 'result', id: msg.id, actions, infer_ms, features, heap: ownHeap() }, transfer);
    } catch (err) {
      post({ type: 'infer_error', id: msg.id, message: `the model failed: ${(err as Error).message}`, fatal: true });
    }
  }

  post({ type: 'ready', warmup_ms });
}

/** The features output as its own array (the run's output buffers are not ours to keep), when there is one. */
function featuresOf(
  out: Record<string, Tensor>,
  spec: { name: string; dim: number } | undefined,
): Float32Array | undefined {
  if (!spec) return undefined;
  const f = out[spec.name];
  if (f.type !== 'float32' || f.size !== spec.dim)
    throw new Error(`features '${spec.name}': expected ${spec.dim} float32 values, found ${f.size} ${f.type}`);
  const copy = Float32Array.from(f.data as Float32Array);
  f.dispose();
  return copy;
}

function crash(how: 'exit' | 'throw'): void {
  if (how === 'exit') process.exit(3);
  // thrown inside the message handler: an uncaught exception, so messages queued behind it never run
  throw new Error('crash requested by a test');
}

void start().catch((err: unknown) => {
  post({ type: 'load_error', message: `the inference worker failed to start: ${(err as Error).message}` });
});
