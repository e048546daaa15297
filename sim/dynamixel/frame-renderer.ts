// The main thread's handle on the frame worker: one job at a time per request, started on first use.
import { Worker } from 'node:worker_threads';
import type { SimOptions, SimSnapshot } from '../sim-env.js';
import type { FrameJob, FrameResult } from './frame-worker.js';

export interface RenderedFrame {
  rgb: Uint8Array;
  width: number;
  height: number;
}

export class FrameRenderer {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (f: RenderedFrame) => void; reject: (e: Error) => void }>();

  constructor(private readonly sim: SimOptions) {}

  render(snapshot: SimSnapshot, camera: string, size: number): Promise<RenderedFrame> {
    const w = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      w.postMessage({ id, snapshot, camera, size } satisfies FrameJob);
    });
  }

  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./frame-worker.js', import.meta.url), { workerData: this.sim });
    w.on('message', (r: FrameResult) => {
      const p = this.waiting.get(r.id);
      this.waiting.delete(r.id);
      if (!p) return;
      if ('error' in r) p.reject(new Error(r.error));
      else p.resolve({ rgb: r.rgb, width: r.width, height: r.height });
    });
    w.on('error', (err) => {
      for (const p of this.waiting.values()) p.reject(err);
      this.waiting.clear();
      this.worker = undefined;
    });
    w.unref();
    this.worker = w;
    return w;
  }
}
