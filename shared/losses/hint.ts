/**
 * FitNets hint loss (Romero et al. 2015): the student's intermediate features,
 * mapped through a small learned linear regressor to the teacher's width,
 * should match the teacher's features on the same (proxy) samples.
 */
import * as tf from '@tensorflow/tfjs';
import { DistillationInputError } from '../errors.js';
import { requireMatrix, requireSameBatch, shapeText } from './validate.js';
import { z } from 'zod';
import { termWeightSchema } from './term.js';
import type { TermDefinition } from './term.js';

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
  /**
   * The regressor mapping ds → dt (trained jointly with the student). Without one the features
   * are compared directly, so ds must equal dt.
   */
  regressor?: HintRegressor | undefined;
}

/**
 * Mean over all B·dt entries of (studentFeatures·kernel + bias − teacherFeatures)²
 * (or of (studentFeatures − teacherFeatures)² without a regressor).
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
  if (regressor === undefined) {
    if (ds !== dt) {
      throw new DistillationInputError(
        `studentFeatures ${shapeText(studentFeatures.shape)} and teacherFeatures ` +
          `${shapeText(teacherFeatures.shape)} differ in width and no regressor maps them`,
      );
    }
    return tf.tidy(
      () => tf.mean(tf.squaredDifference(studentFeatures, teacherFeatures)) as tf.Scalar,
    );
  }
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

/** The feature (FitNets hint) term of a run's `distillation` setting. */
export const hintTermSchema = z.strictObject({
  name: z.literal('hint'),
  /** Multiplier of the term in the local loss. */
  weight: termWeightSchema,
  /**
   * How the student's features reach the teacher's width: 'auto' learns a linear regressor
   * (kept on the client, never averaged) when the widths differ and compares directly when they
   * are equal; 'always' learns one at equal widths too; 'none' compares directly, so the widths
   * must be equal. Defaults to 'auto'.
   */
  regressor: z.enum(['auto', 'always', 'none']).optional(),
  /**
   * Index into the student model's `layers` (as built: a flatten is inserted before a dense
   * layer that follows an image tensor) whose output is the student's hint feature, e.g. a conv
   * block. Defaults to the penultimate features (the input of the logits layer).
   */
  studentLayer: z.number().int().min(0).max(255).optional(),
  /**
   * How a convolutional (rank-4) `studentLayer` output becomes [batch, width]: 'flatten' keeps
   * every position, 'average' averages over height and width (width = channels).
   * Defaults to 'flatten'.
   */
  pooling: z.enum(['flatten', 'average']).optional(),
});
export type HintTerm = z.infer<typeof hintTermSchema>;

/**
 * Feature-based KD on proxy batches: mean (f_s·W + b − f_t)², through the client's learned
 * regressor (W, b) when one is configured, else (f_s − f_t)².
 */
export const hintTerm: TermDefinition<HintTerm> = {
  name: 'hint',
  family: 'feature',
  schema: hintTermSchema,
  needs: ['teacherFeatures'],
  bind() {
    return {
      usesProxy: true,
      loss({ proxy, regressor }) {
        const studentFeatures = proxy!.studentLayerFeatures ?? proxy!.studentFeatures;
        return hintLoss({ studentFeatures, teacherFeatures: proxy!.teacherFeatures!, regressor });
      },
    };
  },
};
