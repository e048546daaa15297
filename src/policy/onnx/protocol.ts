// Messages between OnnxPolicy (main thread) and onnx-worker.ts. One request at a time: the main side
// never posts an `infer` before the previous one was answered.
import type { ThreadHeap } from '../../telemetry/thread-heaps.js';
import type { OnnxManifest } from './manifest.js';

export interface WorkerInit {
  model_path: string;
  /** Where the manifest came from, for messages. */
  manifest_source: string;
  manifest: OnnxManifest;
  intra_op_threads: number;
  warmup_runs: number;
}

/** One camera frame, in manifest image order: either bytes of its own or a view of shared staging memory. */
export interface FrameMsg {
  width: number;
  height: number;
  /** 'copy' transport: a private copy, transferred. */
  rgb?: Uint8Array;
  /** 'shared' transport: the first width*height*3 bytes hold the frame. */
  shared?: SharedArrayBuffer;
}

export type ToWorker =
  | {
      type: 'infer';
      id: number;
      state: Float32Array;
      frames: FrameMsg[];
      committed?: { actions: Float32Array; count: number };
    }
  /** Test hook: make the worker die the way a real crash would. */
  | { type: 'crash_for_test'; how: 'exit' | 'throw' };

export type FromWorker =
  | { type: 'ready'; warmup_ms: number[] }
  | { type: 'load_error'; message: string }
  /** heap: the thread's own V8 heap, for --stats-every (the main thread cannot read it from outside). */
  | { type: 'result'; id: number; actions: Float32Array; infer_ms: number; features?: Float32Array; heap: ThreadHeap }
  /** fatal: the model itself failed, further calls are pointless. */
  | { type: 'infer_error'; id: number; message: string; fatal: boolean };
