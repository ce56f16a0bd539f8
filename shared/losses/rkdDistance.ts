/**
 * RKD distance loss (Park, Kim, Lu & Cho, "Relational Knowledge Distillation",
 * CVPR 2019): the student should reproduce the teacher's pairwise-distance
 * structure within a batch, after normalising each set of distances by its
 * mean, so embeddings of different widths and scales can be compared.
 */
import * as tf from '@tensorflow/tfjs';
import { pairwiseDistances, smoothL1 } from './pairwise.js';
import { requireMatrix, requireMinBatch, requireSameBatch } from './validate.js';
import { z } from 'zod';
import { termWeightSchema } from './term.js';
import type { TermDefinition } from './term.js';

/**
 * ψ(x)_ij = ‖x_i − x_j‖ / μ with μ the mean distance over the B(B−1) pairs
 * i ≠ j; loss = mean over all B×B entries of smoothL1(ψ(s) − ψ(t)) (the
 * diagonal is 0 in both, as in the authors' reference code).
 *
 * @param studentEmb student embeddings (features), float32 [B, ds].
 * @param teacherEmb teacher embeddings on the same samples, float32 [B, dt]; dt may differ from ds.
 * @returns a scalar; the caller disposes it. Differentiable w.r.t. studentEmb.
 * @throws DistillationInputError on rank/batch mismatch or B < 2.
 */
export function rkdDistanceLoss(studentEmb: tf.Tensor2D, teacherEmb: tf.Tensor2D): tf.Scalar {
  requireMatrix('studentEmb', studentEmb);
  requireMatrix('teacherEmb', teacherEmb);
  requireSameBatch('studentEmb', studentEmb, 'teacherEmb', teacherEmb);
  requireMinBatch('studentEmb', studentEmb, 2, 'a pairwise-distance loss');
  return tf.tidy(() => {
    const psiS = normalisedDistances(studentEmb);
    const psiT = normalisedDistances(teacherEmb);
    return tf.mean(smoothL1(tf.sub(psiS, psiT))) as tf.Scalar;
  });
}

function normalisedDistances(e: tf.Tensor2D): tf.Tensor2D {
  const batch = e.shape[0];
  const d = pairwiseDistances(e);
  // Mean over off-diagonal pairs; clamped so an all-identical batch gives 0, not 0/0.
  const mu = tf.maximum(tf.div(tf.sum(d), batch * (batch - 1)), 1e-12);
  return tf.div(d, mu) as tf.Tensor2D;
}

/** The rkd-distance term of a run's `distillation` setting. */
export const rkdDistanceTermSchema = z.strictObject({
  name: z.literal('rkd-distance'),
  /** Multiplier of the term in the local loss. */
  weight: termWeightSchema,
});
export type RkdDistanceTerm = z.infer<typeof rkdDistanceTermSchema>;

/** Relation-based KD (RKD distance) between the student's penultimate features and the teacher's features on each proxy batch. */
export const rkdDistanceTerm: TermDefinition<RkdDistanceTerm> = {
  name: 'rkd-distance',
  family: 'relation',
  schema: rkdDistanceTermSchema,
  needs: ['teacherFeatures'],
  bind() {
    return {
      usesProxy: true,
      loss: ({ proxy }) => rkdDistanceLoss(proxy!.studentFeatures, proxy!.teacherFeatures!),
    };
  },
};
