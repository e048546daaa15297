// An ONNX model as a Policy. The model runs in its own worker thread (onnx-worker.ts): the main thread
// only checks the observation, hands the frames over and stamps the chunk that comes back.
import { Worker } from 'node:worker_threads';
import { reportThreadHeap } from '../../telemetry/thread-heaps.js';
import type { ActionChunk, Observation, Policy } from '../policy.js';
import { PolicyFailure } from '../policy.js';
import { describeManifest, type OnnxManifest, type OnnxPolicyDescription, PolicyLoadError } from './manifest.js';
import { loadModelManifest } from './onnx-file.js';
import type { FrameMsg, FromWorker, ToWorker, WorkerInit } from './protocol.js';

export interface OnnxPolicyOptions {
  /** onnxruntime intra-op threads (default 1: on 2 cores the control loop needs the other one). */
  intra_op_threads?: number;
  /** Model runs on zero inputs before load() resolves, so the first real call is not a cold one (default 1). */
  warmup_runs?: number;
  /**
   * How frames reach the worker. 'shared' (default): copied into a SharedArrayBuffer per camera that
   * is reused across calls. 'copy': a fresh copy per frame, transferred. Either way the caller may
   * reuse its arrays as soon as infer() returns its promise.
   */
  transport?: 'shared' | 'copy';
}

type InferRequest = Extract<ToWorker, { type: 'infer' }>;

interface Pending {
  id: number;
  obs_tick: number;
  resolve: (chunk: ActionChunk) => void;
  reject: (err: Error) => void;
}

export class OnnxPolicy implements Policy {
  readonly manifest: OnnxManifest;
  /** Where the manifest was read from (the sidecar path, or `<model>#metadata_props.vla_manifest`). */
  readonly manifest_source: string;
  /** Warm-up run times at load (ms), for the latency estimate's cold-start view. */
  readonly warmup_ms: number[];
  private readonly description: OnnxPolicyDescription;
  private readonly staging: (Uint8Array | undefined)[];
  private pending: Pending | undefined;
  private failure: PolicyFailure | undefined;
  private lastWorkerError: Error | undefined;
  private closed = false;
  private nextId = 1;

  private constructor(
    readonly model_path: string,
    private readonly worker: Worker,
    init: WorkerInit,
    warmup_ms: number[],
    private readonly transport: 'shared' | 'copy',
  ) {
    this.manifest = init.manifest;
    this.manifest_source = init.manifest_source;
    this.warmup_ms = warmup_ms;
    this.description = describeManifest(init.manifest);
    this.staging = init.manifest.inputs.images.map(() => undefined);
    worker.on('message', (msg: FromWorker) => this.onMessage(msg));
    worker.on('error', (err: Error) => {
      this.lastWorkerError = err;
      this.fail(`the ONNX inference worker for ${model_path} crashed: ${err.message}`);
    });
    worker.on('exit', (code: number) => {
      if (!this.closed)
        this.fail(
          `the ONNX inference worker for ${model_path} exited (code ` +
            `${code})${this.lastWorkerError ? ` after: ${this.lastWorkerError.message}` : ''}`,
        );
    });
    // an idle policy must not keep the process alive; a request in flight does (see infer)
    worker.unref();
  }

  /**
   * Read and check the manifest, start the worker, load the model and check it against the manifest.
   * Rejects with PolicyLoadError naming the file and the problem.
   */
  static async load(modelPath: string, opts: OnnxPolicyOptions = {}): Promise<OnnxPolicy> {
    const threads = opts.intra_op_threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1)
      throw new PolicyLoadError(`${modelPath}: intra_op_threads: expected a positive integer, found ${threads}`);
    const loaded = await loadModelManifest(modelPath);
    const init: WorkerInit = {
      model_path: modelPath,
      manifest_source: loaded.source,
      manifest: loaded.manifest,
      intra_op_threads: threads,
      warmup_runs: opts.warmup_runs ?? 1,
    };
    // the compiled sibling of this file (dist/src/policy/onnx/onnx-worker.js)
    const worker = new Worker(new URL('./onnx-worker.js', import.meta.url), { workerData: init });
    const warmup_ms = await new Promise<number[]>((resolve, reject) => {
      const fail = (message: string): void => {
        cleanup();
        void worker.terminate();
        reject(new PolicyLoadError(`${modelPath}: ${message}`));
      };
      const onMessage = (msg: FromWorker): void => {
        if (msg.type === 'ready') {
          cleanup();
          resolve(msg.warmup_ms);
        } else if (msg.type === 'load_error') {
          fail(msg.message);
        }
      };
      const onError = (err: Error): void => fail(`the inference worker crashed while loading: ${err.message}`);
      const onExit = (code: number): void => fail(`the inference worker exited while loading (code ${code})`);
      const cleanup = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
    return new OnnxPolicy(modelPath, worker, init, warmup_ms, opts.transport ?? 'shared');
  }

  describe(): OnnxPolicyDescription {
    return this.description;
  }

  infer(obs: Observation): Promise<ActionChunk> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new PolicyFailure(`${this.model_path}: the policy is closed`));
    if (this.pending) {
      return Promise.reject(
        new Error(
          `${this.model_path}: infer() called while the request for tick ${this.pending.obs_tick} is in flight; one ` +
            `request at a time`,
        ),
      );
    }
    let msg: InferRequest;
    const transfer: ArrayBuffer[] = [];
    try {
      msg = this.buildRequest(obs, transfer);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<ActionChunk>((resolve, reject) => {
      this.pending = { id: msg.id, obs_tick: obs.tick, resolve, reject };
      this.worker.ref();
      this.worker.postMessage(msg, transfer);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(new PolicyFailure(`${this.model_path}: the policy was closed while a request was in flight`));
    await this.worker.terminate();
  }

  /** Test hook: kill the worker the way a crash would ('terminate' from outside, 'exit' or 'throw' inside it). */
  crashWorkerForTest(how: 'exit' | 'throw' | 'terminate'): void {
    if (how === 'terminate') void this.worker.terminate();
    else this.worker.postMessage({ type: 'crash_for_test', how } satisfies ToWorker);
  }

  /** Check the observation against the manifest and copy what the worker needs out of it. */
  private buildRequest(obs: Observation, transfer: ArrayBuffer[]): InferRequest {
    const m = this.manifest;
    const where = `${this.model_path}: observation at tick ${obs.tick}`;
    if (m.inputs.state && obs.state.length !== m.inputs.state.dim) {
      throw new Error(`${where}: state: expected ${m.inputs.state.dim} values, found ${obs.state.length}`);
    }
    const frames: FrameMsg[] = m.inputs.images.map((spec, i) => {
      const img = obs.images.find((x) => x.name === spec.camera);
      if (!img)
        throw new Error(
          `${where}: camera '${spec.camera}': expected a frame, found none (frames: ` +
            `${obs.images.map((x) => x.name).join(', ') || 'none'})`,
        );
      const bytes = img.width * img.height * 3;
      if (!(img.width > 0 && img.height > 0) || img.rgb.length < bytes) {
        throw new Error(
          `${where}: camera '${spec.camera}': expected ${bytes} bytes of ${img.width}x${img.height} RGB, found ` +
            `${img.rgb.length}`,
        );
      }
      if (this.transport === 'copy') {
        // slice, not the view itself: cloning a view would copy its whole underlying buffer
        const rgb = img.rgb.slice(0, bytes);
        transfer.push(rgb.buffer);
        return { width: img.width, height: img.height, rgb };
      }
      let stage = this.staging[i];
      if (!stage || stage.length < bytes) stage = this.staging[i] = new Uint8Array(new SharedArrayBuffer(bytes));
      stage.set(img.rgb.subarray(0, bytes));
      return { width: img.width, height: img.height, shared: stage.buffer as SharedArrayBuffer };
    });
    // state and committed actions are small: structured clone copies them
    const committed =
      obs.committed && m.inputs.committed
        ? {
            actions: obs.committed.actions.slice(
              0,
              Math.min(obs.committed.count, m.inputs.committed.max_length) * m.action.dim,
            ),
            count: obs.committed.count,
          }
        : undefined;
    return { type: 'infer', id: this.nextId++, state: obs.state.slice(), frames, committed };
  }

  private onMessage(msg: FromWorker): void {
    const p = this.pending;
    if (msg.type !== 'result' && msg.type !== 'infer_error') return;
    if (msg.type === 'result') reportThreadHeap('inference', msg.heap);
    if (!p || p.id !== msg.id) return; // an answer to a call that close() already rejected
    this.pending = undefined;
    this.worker.unref();
    if (msg.type === 'result') {
      const { horizon, action_dim, action_offset } = this.description;
      p.resolve({
        obs_tick: p.obs_tick,
        first_tick: p.obs_tick + action_offset,
        horizon,
        dim: action_dim,
        actions: msg.actions,
        infer_ms: msg.infer_ms,
        ...(msg.features ? { features: msg.features } : {}),
      });
    } else if (msg.fatal) {
      this.fail(`${this.model_path}: ${msg.message}`, p);
      void this.worker.terminate();
    } else {
      p.reject(new Error(`${this.model_path}: ${msg.message}`));
    }
  }

  /** From now on every call rejects with the same PolicyFailure. */
  private fail(message: string, pending: Pending | undefined = this.pending): void {
    this.failure ??= new PolicyFailure(message);
    if (pending === this.pending) this.pending = undefined;
    pending?.reject(this.failure);
  }
}
