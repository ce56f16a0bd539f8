/**
 * The one argument convention every distillation term follows, so that a
 * run's `distillation` setting can name its terms and local training can
 * compose them without knowing any of them (tfjs-layers' `losses.ts` name map
 * is the model). A term is a zod schema for its options plus a pure function
 * from one step's tensors to an unweighted scalar; the registry
 * (registry.ts) lists them by name.
 */
import type * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { HintRegressor } from './hint.js';

/** The four knowledge-distillation families a term belongs to. */
export type DistillationFamily = 'response' | 'feature' | 'relation' | 'self';

/**
 * What a term may need beyond the private batch: the proxy batch with the
 * teacher's soft labels, the teacher's features on that proxy batch, or the
 * round-start snapshot's logits on the private batch.
 */
export type TermNeed = 'teacherProbs' | 'teacherFeatures' | 'snapshot';

/** The proxy half of a step: the student's outputs and the teacher's targets on one proxy batch. */
export interface ProxyStepInputs {
  /** Student LOGITS on the proxy batch, float32 [P, C]. */
  studentLogits: tf.Tensor2D;
  /** Student penultimate features (input of the logits layer) on the proxy batch, float32 [P, ds]. */
  studentFeatures: tf.Tensor2D;
  /**
   * Student features at the hint term's `studentLayer` (flattened or pooled), float32 [P, dl];
   * absent when the hint term uses the penultimate features.
   */
  studentLayerFeatures?: tf.Tensor2D;
  /** Teacher PROBABILITIES at the round's temperature on the proxy batch, float32 [P, C]. */
  teacherProbs: tf.Tensor2D;
  /** Teacher features on the same proxy batch, float32 [P, dt], when the run ships them. */
  teacherFeatures?: tf.Tensor2D;
}

/** One training step's tensors, as every term receives them. All are constants except the student's outputs. */
export interface TermInputs {
  /** Round temperature T (the soft labels are softened at it). */
  temperature: number;
  /** Student LOGITS on the private batch, float32 [B, C]. */
  studentLogits: tf.Tensor2D;
  /** Hard labels of the private batch, int32 [B]. */
  labels: tf.Tensor1D;
  /** Batch mean of CE(labels, softmax(studentLogits)), computed once per step and shared. */
  crossEntropy: tf.Scalar;
  /** The proxy half, when the step has a proxy batch. */
  proxy?: ProxyStepInputs;
  /** The round-start snapshot's LOGITS on the private batch, float32 [B, C]. */
  snapshotLogits?: tf.Tensor2D;
  /** The learned hint regressor, when the hint term maps widths. */
  regressor?: HintRegressor;
}

/** Round-level settings a term's options default to. */
export interface RoundDefaults {
  /** The round's α (weight of the hard-label term). */
  alpha: number;
  /** The round's temperature T. */
  temperature: number;
  /** Extra multiplier on the proxy KL term (TrainConfig.proxyWeight). */
  proxyWeight: number;
}

/** A term with its options resolved: ready to evaluate on each step. */
export interface BoundTerm {
  /** The UNWEIGHTED term value on one step; called inside a tidy. */
  loss(inputs: TermInputs): tf.Scalar;
  /** Whether steps must carry a proxy batch for this term. */
  readonly usesProxy: boolean;
}

/**
 * A registered term: its name, family, option schema and how to bind options
 * to a step function. The bound `loss` returns the term unweighted (the
 * composer multiplies by `weight`) and must be differentiable w.r.t. the
 * student's outputs and the regressor. It may assume every input named in
 * `needs` is present: the composer checks that before the first step.
 */
export interface TermDefinition<Term extends { name: string; weight: number }> {
  readonly name: Term['name'];
  readonly family: DistillationFamily;
  /** The term's options; every option but `name` and `weight` is optional, documented with its default. */
  readonly schema: z.ZodType<Term>;
  readonly needs: readonly TermNeed[];
  bind(term: Term, round: RoundDefaults): BoundTerm;
}

/** Every term's `weight`: its multiplier in the composed local loss. */
export const termWeightSchema = z.number().finite().min(0).max(1e6);
