/**
 * Small tensor helpers shared by the relation losses. Internal; call inside a tf.tidy.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * Rows divided by their L2 norm, with the norm clamped below at `eps` so zero
 * rows stay zero. The clamp is applied to the squared norm before the sqrt, so
 * the gradient at a zero row is 0 rather than 0·∞ = NaN.
 */
export function l2NormalizeLastAxis<T extends tf.Tensor>(x: T, eps: number): T {
  const axis = x.rank - 1;
  const sumSq = tf.sum(tf.square(x), axis, true);
  return tf.div(x, tf.sqrt(tf.maximum(sumSq, eps * eps))) as T;
}

/**
 * Euclidean distances between all rows of e [B, D] → [B, B], zero on the
 * diagonal. Computed from the Gram matrix (one matMul, O(B²) memory); the
 * squared distance is clamped at 1e-12 before the sqrt so coincident rows give
 * a finite gradient (as in the RKD authors' `pdist`).
 */
export function pairwiseDistances(e: tf.Tensor2D): tf.Tensor2D {
  const batch = e.shape[0];
  const sq = tf.sum(tf.square(e), 1);
  const gram = tf.matMul(e, e, false, true);
  const d2 = tf.sub(tf.add(tf.expandDims(sq, 1), tf.expandDims(sq, 0)), tf.mul(gram, 2));
  const d = tf.sqrt(tf.maximum(d2, 1e-12));
  return tf.mul(d, offDiagonalMask(batch)) as tf.Tensor2D;
}

/** [B, B] float mask: 1 off the diagonal, 0 on it. */
export function offDiagonalMask(batch: number): tf.Tensor2D {
  return tf.sub(tf.onesLike(tf.eye(batch)), tf.eye(batch)) as tf.Tensor2D;
}

/**
 * Elementwise smooth-L1 (Huber, δ = 1): ½x² for |x| < 1, |x| − ½ otherwise,
 * written as ½·m² + (|x| − m) with m = min(|x|, 1) — smooth, no branches.
 */
export function smoothL1(x: tf.Tensor): tf.Tensor {
  const a = tf.abs(x);
  const m = tf.minimum(a, 1);
  return tf.add(tf.mul(tf.square(m), 0.5), tf.sub(a, m));
}
