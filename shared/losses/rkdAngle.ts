/**
 * RKD angle loss (Park, Kim, Lu & Cho, CVPR 2019): the student should
 * reproduce the angles the teacher's embeddings form in every triplet of the
 * batch. Angles are invariant to scale, so no normalisation by a mean is needed
 * and the two embedding widths may differ.
 */
import * as tf from '@tensorflow/tfjs';
import { l2NormalizeLastAxis, smoothL1 } from './pairwise.js';
import { requireMatrix, requireMinBatch, requireSameBatch } from './validate.js';
import { z } from 'zod';
import { termWeightSchema } from './term.js';
import type { TermDefinition } from './term.js';

/**
 * For anchor a and samples b, c: cos∠(a; b, c) = ⟨n(x_b − x_a), n(x_c − x_a)⟩
 * with n(v) = v / max(‖v‖, 1e-12) (so terms with b = a or c = a are 0);
 * loss = mean over all B³ triplets of smoothL1(cos_s − cos_t).
 * Memory is O(B²·D + B³): meant for batches of tens to a few hundred.
 *
 * @param studentEmb student embeddings (features), float32 [B, ds].
 * @param teacherEmb teacher embeddings on the same samples, float32 [B, dt].
 * @returns a scalar; the caller disposes it. Differentiable w.r.t. studentEmb.
 * @throws DistillationInputError on rank/batch mismatch or B < 3.
 */
export function rkdAngleLoss(studentEmb: tf.Tensor2D, teacherEmb: tf.Tensor2D): tf.Scalar {
  requireMatrix('studentEmb', studentEmb);
  requireMatrix('teacherEmb', teacherEmb);
  requireSameBatch('studentEmb', studentEmb, 'teacherEmb', teacherEmb);
  requireMinBatch('studentEmb', studentEmb, 3, 'an angle (triplet) loss');
  return tf.tidy(() => {
    const cosS = tripletCosines(studentEmb);
    const cosT = tripletCosines(teacherEmb);
    return tf.mean(smoothL1(tf.sub(cosS, cosT))) as tf.Scalar;
  });
}

/** [B, B, B] with [a, b, c] = cosine of the angle at x_a between x_b and x_c. */
function tripletCosines(e: tf.Tensor2D): tf.Tensor3D {
  // diff[a, b, :] = x_b − x_a
  const diff = tf.sub(tf.expandDims(e, 0), tf.expandDims(e, 1)) as tf.Tensor3D;
  const unit = l2NormalizeLastAxis(diff, 1e-12);
  return tf.matMul(unit, unit, false, true);
}

/** The rkd-angle term of a run's `distillation` setting. */
export const rkdAngleTermSchema = z.strictObject({
  name: z.literal('rkd-angle'),
  /** Multiplier of the term in the local loss. */
  weight: termWeightSchema,
});
export type RkdAngleTerm = z.infer<typeof rkdAngleTermSchema>;

/** Relation-based KD (RKD angle) between the student's penultimate features and the teacher's features on each proxy batch (needs a proxy batch of at least 3; memory O(B³)). */
export const rkdAngleTerm: TermDefinition<RkdAngleTerm> = {
  name: 'rkd-angle',
  family: 'relation',
  schema: rkdAngleTermSchema,
  needs: ['teacherFeatures'],
  bind() {
    return {
      usesProxy: true,
      loss: ({ proxy }) => rkdAngleLoss(proxy!.studentFeatures, proxy!.teacherFeatures!),
    };
  },
};
