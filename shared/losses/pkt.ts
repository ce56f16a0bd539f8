/**
 * Probabilistic knowledge transfer, PKT (Passalis & Tefas, "Learning Deep
 * Representations with Probabilistic Knowledge Transfer", ECCV 2018): turn each
 * batch's cosine-similarity kernel into conditional probabilities p(j | i) and
 * make the student's match the teacher's by KL divergence. Only the geometry
 * within the batch is transferred, so the widths may differ.
 */
import * as tf from '@tensorflow/tfjs';
import { l2NormalizeLastAxis } from './pairwise.js';
import { requireMatrix, requireMinBatch, requireSameBatch } from './validate.js';
import { z } from 'zod';
import { termWeightSchema } from './term.js';
import type { TermDefinition } from './term.js';

/** eps of the authors' reference code, used in normalisation and the log. */
const EPS = 1e-7;

/**
 * K_ij = (cos(x_i, x_j) + 1) / 2 ∈ [0, 1]; P_ij = K_ij / Σ_j K_ij;
 * loss = mean over all B×B entries of P^t_ij · log((P^t_ij + ε) / (P^s_ij + ε)), ε = 1e-7
 * (the authors' reference formulation, including its elementwise mean).
 *
 * @param studentEmb student embeddings (features), float32 [B, ds].
 * @param teacherEmb teacher embeddings on the same samples, float32 [B, dt].
 * @returns a scalar; the caller disposes it. Differentiable w.r.t. studentEmb.
 * @throws DistillationInputError on rank/batch mismatch or B < 2.
 */
export function pktLoss(studentEmb: tf.Tensor2D, teacherEmb: tf.Tensor2D): tf.Scalar {
  requireMatrix('studentEmb', studentEmb);
  requireMatrix('teacherEmb', teacherEmb);
  requireSameBatch('studentEmb', studentEmb, 'teacherEmb', teacherEmb);
  requireMinBatch('studentEmb', studentEmb, 2, 'a similarity-kernel loss');
  return tf.tidy(() => {
    const ps = conditionalProbs(studentEmb);
    const pt = conditionalProbs(teacherEmb);
    const ratio = tf.div(tf.add(pt, EPS), tf.add(ps, EPS));
    return tf.mean(tf.mul(pt, tf.log(ratio))) as tf.Scalar;
  });
}

function conditionalProbs(e: tf.Tensor2D): tf.Tensor2D {
  const unit = l2NormalizeLastAxis(e, EPS);
  const kernel = tf.div(tf.add(tf.matMul(unit, unit, false, true), 1), 2);
  return tf.div(kernel, tf.sum(kernel, 1, true)) as tf.Tensor2D;
}

/** The pkt term of a run's `distillation` setting. */
export const pktTermSchema = z.strictObject({
  name: z.literal('pkt'),
  /** Multiplier of the term in the local loss. */
  weight: termWeightSchema,
});
export type PktTerm = z.infer<typeof pktTermSchema>;

/** Relation-based KD (PKT) between the student's penultimate features and the teacher's features on each proxy batch. */
export const pktTerm: TermDefinition<PktTerm> = {
  name: 'pkt',
  family: 'relation',
  schema: pktTermSchema,
  needs: ['teacherFeatures'],
  bind() {
    return {
      usesProxy: true,
      loss: ({ proxy }) => pktLoss(proxy!.studentFeatures, proxy!.teacherFeatures!),
    };
  },
};
