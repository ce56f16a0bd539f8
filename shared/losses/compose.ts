/**
 * Composes a run's configured distillation terms into one local loss per
 * step: Σ weight·term, plus the hard-label CE with weight 1 when no response
 * term (which carries its own α·CE) is configured. Returns the unweighted
 * value of each term beside the loss so training can report every term.
 */
import * as tf from '@tensorflow/tfjs';
import { DistillationInputError } from '../errors.js';
import { crossEntropyUnchecked } from './crossEntropy.js';
import { distillationTerm } from './registry.js';
import type { DistillationTerm, DistillationTermName } from './registry.js';
import type { BoundTerm, RoundDefaults, TermInputs, TermNeed } from './term.js';

/** Terms bound to a round's defaults, ready for {@link composedLoss}. */
export interface ComposedDistillation {
  readonly terms: readonly {
    readonly name: DistillationTermName;
    readonly weight: number;
    readonly needs: readonly TermNeed[];
    readonly bound: BoundTerm;
  }[];
  /** Whether steps need a proxy batch. */
  readonly usesProxy: boolean;
  /** Whether the CE on private data is added on its own (no response term). */
  readonly separateCrossEntropy: boolean;
  /** Names of the values {@link composedLoss} returns, in order: each term, then 'ce'. */
  readonly valueNames: readonly string[];
}

/** What a step can provide; {@link composeDistillation} refuses terms whose needs are missing. */
export interface AvailableInputs {
  /** A proxy set with the teacher's soft labels. */
  teacherProbs: boolean;
  /** The teacher's features on that proxy set. */
  teacherFeatures: boolean;
}

/**
 * Binds `terms` to the round's defaults and checks their needs against what is available.
 *
 * @param field the setting's name in error messages. Defaults to 'distillation'.
 * @throws DistillationInputError naming `field[i]` for an unknown term, a duplicate, or a term
 *   whose inputs are not available (e.g. a hint term without teacher features).
 */
export function composeDistillation(
  terms: readonly DistillationTerm[],
  round: RoundDefaults,
  available: AvailableInputs,
  field = 'distillation',
): ComposedDistillation {
  if (terms.length === 0) throw new DistillationInputError(`${field} lists no terms`);
  const seen = new Set<string>();
  const bound = terms.map((term, i) => {
    const where = `${field}[${i}]`;
    let definition;
    try {
      definition = distillationTerm(term.name);
    } catch (error) {
      throw new DistillationInputError(`${where}.name: ${(error as Error).message}`);
    }
    if (seen.has(term.name)) {
      throw new DistillationInputError(`${where}.name: term '${term.name}' is listed twice`);
    }
    seen.add(term.name);
    const parsed = definition.schema.safeParse(term);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new DistillationInputError(
        `${where}${issue?.path.map((k) => `.${String(k)}`).join('') ?? ''}: ${issue?.message ?? 'invalid'}`,
      );
    }
    for (const need of definition.needs) {
      if (need === 'teacherProbs' && !available.teacherProbs) {
        throw new DistillationInputError(
          `${where} (${term.name}) needs a proxy set with the teacher's soft labels, and none was given`,
        );
      }
      if (need === 'teacherFeatures' && !(available.teacherProbs && available.teacherFeatures)) {
        throw new DistillationInputError(
          `${where} (${term.name}) needs the teacher's features on the proxy set (teacherFeatures), and none were given`,
        );
      }
    }
    return {
      name: term.name,
      weight: term.weight,
      needs: definition.needs,
      bound: definition.bind(parsed.data, round),
    };
  });
  const separateCrossEntropy = !seen.has('response');
  return {
    terms: bound,
    usesProxy: available.teacherProbs && bound.some((t) => t.bound.usesProxy),
    separateCrossEntropy,
    valueNames: [...bound.map((t) => t.name), 'ce'],
  };
}

/**
 * The composed loss of one step and each term's unweighted value (in `valueNames` order; the
 * last is the private batch's CE). Call inside a tidy or an optimizer's `minimize`.
 */
export function composedLoss(
  composed: ComposedDistillation,
  inputs: Omit<TermInputs, 'crossEntropy'>,
): { loss: tf.Scalar; values: tf.Scalar[] } {
  const crossEntropy = crossEntropyUnchecked(inputs.studentLogits, inputs.labels);
  const full: TermInputs = { ...inputs, crossEntropy };
  const values = composed.terms.map((t) => t.bound.loss(full));
  const weighted = composed.terms.map((t, i) => tf.mul(values[i]!, t.weight) as tf.Scalar);
  if (composed.separateCrossEntropy) weighted.push(crossEntropy);
  const loss = (weighted.length === 1 ? weighted[0]! : tf.addN(weighted)) as tf.Scalar;
  return { loss, values: [...values, crossEntropy] };
}
