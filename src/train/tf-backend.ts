// TensorFlow.js on its WebAssembly backend, set up once per process. The wasm build is several times
// faster than the pure-JS CPU backend here and ships inside the npm package (no native download).
//
// Two of its gaps shape the training code: Conv2DBackpropFilter has no wasm kernel (convolutions are
// written as patches x matrix, see policy-net.ts), and matMul with transpose flags takes a slow path
// (about 5x slower than transposing explicitly), which `linear` below avoids in its gradient.

import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

let ready: Promise<typeof tf> | undefined;

export function tfWasm(): Promise<typeof tf> {
  ready ??= (async () => {
    const require = createRequire(import.meta.url);
    setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))}/`);
    tf.enableProdMode();
    if (!(await tf.setBackend('wasm'))) throw new Error('TensorFlow.js: the wasm backend failed to start');
    await tf.ready();
    return tf;
  })();
  return ready;
}

/** x [n, k] times w [k, m], with a gradient made of plain (untransposed) matMuls. */
export const linear: (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D = tf.customGrad((x, w, save) => {
  const a = x as tf.Tensor2D,
    b = w as tf.Tensor2D;
  (save as tf.GradSaveFunc)([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy, saved) => {
      const [xs, ws] = saved as tf.Tensor2D[];
      return [tf.matMul(dy as tf.Tensor2D, tf.transpose(ws)), tf.matMul(tf.transpose(xs), dy as tf.Tensor2D)];
    },
  };
}) as (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D;
