/**
 * Dense and conv2d ops with hand-written gradients, shaped for the wasm
 * backend:
 * - wasm's matMul takes its fast XNNPACK path only when neither operand is
 *   transposed; tfjs's stock MatMul gradient multiplies by transposes and falls
 *   to a slow scalar loop. Here every transpose is an explicit `tf.transpose`
 *   followed by a plain matMul.
 * - wasm has no Conv2DBackpropFilter kernel, so the stock conv2d gradient
 *   throws there. The filter gradient is written as an ordinary conv2d of the
 *   (transposed) input with the (transposed) output gradient as the filter.
 *
 * The `*NoInputGrad` variants take the input by closure instead of as an
 * argument: the first layer of a network never needs dx, and tfjs's
 * customGrad computes every input's gradient eagerly.
 */
import * as tf from '@tensorflow/tfjs';

type GradFn = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
type CustomOp = (...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  value: tf.Tensor;
  gradFunc: GradFn;
};

function custom(f: CustomOp): (...inputs: tf.Tensor[]) => tf.Tensor {
  return tf.customGrad(f as Parameters<typeof tf.customGrad>[0]) as (
    ...inputs: tf.Tensor[]
  ) => tf.Tensor;
}

/** `x·w` for x `[B, in]`, w `[in, out]`; dx = dy·wᵀ, dw = xᵀ·dy with explicit transposes. */
export const denseMatMul = custom((...args) => {
  const [x, w, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([x, w]);
  return {
    value: tf.matMul(x, w),
    gradFunc: (dy, saved) => {
      const [sx, sw] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [
        tf.matMul(dy as tf.Tensor2D, tf.transpose(sw)),
        tf.matMul(tf.transpose(sx), dy as tf.Tensor2D),
      ];
    },
  };
}) as (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D;

/** Like denseMatMul but with no gradient for `x` (x is not an input of the op). */
export function denseMatMulNoInputGrad(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const op = custom((...args) => {
    const [sw] = args as [tf.Tensor2D];
    return {
      value: tf.matMul(x, sw),
      gradFunc: (dy) => tf.matMul(tf.transpose(x), dy as tf.Tensor2D),
    };
  });
  return op(w) as tf.Tensor2D;
}

export type ConvPadding = 'valid' | 'same';

/**
 * Filter gradient of a stride-1 conv2d: dW[i,j,c,o] = Σ_{b,h,w} xpad[b,h+i,w+j,c]·dy[b,h,w,o].
 * That is a valid conv2d of xpad seen as `[Cin, H, W, B]` (channels as batch,
 * batch as channels) with dy seen as a `[Ho, Wo, B, Cout]` filter, giving
 * `[Cin, kh, kw, Cout]`, transposed back to `[kh, kw, Cin, Cout]`.
 */
export function conv2dFilterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: readonly [number, number, number, number],
  padding: ConvPadding,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = filterShape;
    let xp = x;
    if (padding === 'same') {
      // TensorFlow's 'same' for stride 1 pads kh-1 rows, the smaller half on top.
      const top = Math.floor((kh - 1) / 2);
      const left = Math.floor((kw - 1) / 2);
      xp = tf.pad(x, [
        [0, 0],
        [top, kh - 1 - top],
        [left, kw - 1 - left],
        [0, 0],
      ]);
    }
    const xT = tf.transpose(xp, [3, 1, 2, 0]);
    const dyT = tf.transpose(dy, [1, 2, 0, 3]);
    const r = tf.conv2d(xT, dyT, 1, 'valid');
    return tf.transpose(r, [1, 2, 0, 3]);
  });
}

/** Stride-1 conv2d, x `[B,H,W,Cin]`, filter `[kh,kw,Cin,Cout]`, with wasm-safe gradients. */
export function conv2dFast(x: tf.Tensor4D, filter: tf.Tensor4D, padding: ConvPadding): tf.Tensor4D {
  const op = custom((...args) => {
    const [sx, sf, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([sx, sf]);
    return {
      value: tf.conv2d(sx, sf, 1, padding),
      gradFunc: (dy, saved) => {
        const [ix, f] = saved as [tf.Tensor4D, tf.Tensor4D];
        return [
          tf.conv2dTranspose(dy as tf.Tensor4D, f, ix.shape, 1, padding),
          conv2dFilterGrad(ix, dy as tf.Tensor4D, f.shape, padding),
        ];
      },
    };
  });
  return op(x, filter) as tf.Tensor4D;
}

/** conv2dFast with no gradient for `x` (the first layer's input). */
export function conv2dFastNoInputGrad(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  padding: ConvPadding,
): tf.Tensor4D {
  const op = custom((...args) => {
    const [sf] = args as [tf.Tensor4D];
    return {
      value: tf.conv2d(x, sf, 1, padding),
      gradFunc: (dy) => conv2dFilterGrad(x, dy as tf.Tensor4D, sf.shape, padding),
    };
  });
  return op(filter) as tf.Tensor4D;
}
