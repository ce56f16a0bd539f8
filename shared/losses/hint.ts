/**
 * FitNets hint loss (Romero et al. 2015): the student's intermediate features,
 * mapped through a small learned linear regressor to the teacher's width,
 * should match the teacher's features on the same (proxy) samples.
 */
import * as tf from '@tensorflow/tfjs';
import { DistillationInputError } from '../errors.js';
import { requireMatrix, requireSameBatch, shapeText } from './validate.js';

/** The learned linear map from student features [B, ds] to teacher width dt. */
export interface HintRegressor {
  /** Weights [ds, dt], trainable. */
  readonly kernel: tf.Variable;
  /** Bias [dt], trainable. */
  readonly bias: tf.Variable;
  /** Releases both variables. */
  dispose(): void;
}

/**
 * A regressor with Glorot-uniform kernel and zero bias. The same seed gives
 * the same kernel on every backend, so runs are reproducible.
 *
 * @param studentWidth ds, the student's feature width (positive integer).
 * @param teacherWidth dt, the teacher's feature width (positive integer).
 * @param seed RNG seed for the kernel. Defaults to 0.
 */
export function createHintRegressor(
  studentWidth: number,
  teacherWidth: number,
  seed = 0,
): HintRegressor {
  for (const [name, width] of [
    ['studentWidth', studentWidth],
    ['teacherWidth', teacherWidth],
  ] as const) {
    if (!Number.isInteger(width) || width < 1) {
      throw new DistillationInputError(`${name} must be a positive integer, got ${width}`);
    }
  }
  if (!Number.isFinite(seed)) {
    throw new DistillationInputError(`seed must be a finite number, got ${seed}`);
  }
  const limit = Math.sqrt(6 / (studentWidth + teacherWidth));
  const kernel = tf.tidy(() =>
    tf.variable(tf.randomUniform([studentWidth, teacherWidth], -limit, limit, 'float32', seed)),
  );
  const bias = tf.tidy(() => tf.variable(tf.zeros([teacherWidth])));
  return {
    kernel,
    bias,
    dispose() {
      kernel.dispose();
      bias.dispose();
    },
  };
}

/** Inputs of {@link hintLoss}. */
export interface HintLossOptions {
  /** Student intermediate features (activations, not logits), float32 [B, ds]. */
  studentFeatures: tf.Tensor2D;
  /** Teacher intermediate features on the same samples, float32 [B, dt]. */
  teacherFeatures: tf.Tensor2D;
  /** The regressor mapping ds → dt (trained jointly with the student). */
  regressor: HintRegressor;
}

/**
 * Mean over all B·dt entries of (studentFeatures·kernel + bias − teacherFeatures)².
 * Differentiable w.r.t. studentFeatures and the regressor's variables.
 *
 * @returns a scalar; the caller disposes it.
 * @throws DistillationInputError when the batch, ds or dt do not line up with the regressor.
 */
export function hintLoss(opts: HintLossOptions): tf.Scalar {
  const { studentFeatures, teacherFeatures, regressor } = opts;
  const [, ds] = requireMatrix('studentFeatures', studentFeatures);
  const [, dt] = requireMatrix('teacherFeatures', teacherFeatures);
  requireSameBatch('studentFeatures', studentFeatures, 'teacherFeatures', teacherFeatures);
  const kernelShape = regressor.kernel.shape;
  if (kernelShape.length !== 2 || kernelShape[0] !== ds || kernelShape[1] !== dt) {
    throw new DistillationInputError(
      `regressor kernel shape ${shapeText(kernelShape)} does not map studentFeatures ` +
        `${shapeText(studentFeatures.shape)} to teacherFeatures ${shapeText(teacherFeatures.shape)}: ` +
        `expected [${ds},${dt}]`,
    );
  }
  if (regressor.bias.shape.length !== 1 || regressor.bias.shape[0] !== dt) {
    throw new DistillationInputError(
      `regressor bias shape ${shapeText(regressor.bias.shape)} does not match teacher width: expected [${dt}]`,
    );
  }
  return tf.tidy(() => {
    const mapped = tf.add(tf.matMul(studentFeatures, regressor.kernel), regressor.bias);
    return tf.mean(tf.square(tf.sub(mapped, teacherFeatures))) as tf.Scalar;
  });
}
