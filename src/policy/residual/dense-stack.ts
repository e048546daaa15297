// A small dense network evaluated in plain JavaScript: Dense, ReLU, Dense, ..., Dense. The residual runs inside the
// control tick (the control thread in real time), where an ONNX Runtime call would cost a thread hop and allocate;
// a few hundred thousand multiply-adds into preallocated buffers cost well under a millisecond and nothing for the
// garbage collector. The same weights are in the residual's ONNX file, and tests hold the two to agree.

export interface DenseLayer {
  n_in: number;
  n_out: number;
  /** Row-major [n_in, n_out] (x W, as ONNX MatMul takes it). */
  w: Float32Array;
  b: Float32Array;
}

export class DenseStack {
  readonly n_in: number;
  readonly n_out: number;
  private readonly scratch: Float64Array[];

  constructor(readonly layers: DenseLayer[]) {
    if (layers.length === 0) throw new Error('a dense stack needs at least one layer');
    layers.forEach((l, i) => {
      if (l.w.length !== l.n_in * l.n_out || l.b.length !== l.n_out)
        throw new Error(`layer ${i}: weights ${l.w.length} / bias ${l.b.length} do not fit ${l.n_in} x ${l.n_out}`);
      if (i > 0 && layers[i - 1].n_out !== l.n_in)
        throw new Error(`layer ${i} takes ${l.n_in} inputs, layer ${i - 1} gives ${layers[i - 1].n_out}`);
    });
    this.n_in = layers[0].n_in;
    this.n_out = layers[layers.length - 1].n_out;
    this.scratch = layers.map((l) => new Float64Array(l.n_out));
  }

  /** out <- network(x); ReLU after every layer but the last. Allocates nothing. */
  forward(x: ArrayLike<number>, out: Float64Array): Float64Array {
    let input: ArrayLike<number> = x;
    for (let l = 0; l < this.layers.length; l++) {
      const { n_in, n_out, w, b } = this.layers[l];
      const last = l + 1 === this.layers.length;
      const y = last ? out : this.scratch[l];
      for (let j = 0; j < n_out; j++) y[j] = b[j];
      for (let i = 0; i < n_in; i++) {
        const xi = input[i];
        if (xi === 0) continue;
        const row = i * n_out;
        for (let j = 0; j < n_out; j++) y[j] += xi * w[row + j];
      }
      if (!last) for (let j = 0; j < n_out; j++) if (y[j] < 0) y[j] = 0;
      input = y;
    }
    return out;
  }
}
