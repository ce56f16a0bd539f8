/**
 * Small rules every strategy's round applies to a contribution: which fields
 * an update may carry, decoding its delta, the clients' training settings, and
 * the mean of reported values.
 */
import { decodeWeights } from '../../shared/codec/index.js';
import type { RoundConfig, UpdateMessage } from '../../shared/protocol/index.js';
import type { RoundContext, ScreenedDelta, StrategyContext } from './strategy.js';
import { ContributionError } from './strategy.js';

/** The round's training settings: without a teacher α is 1 (hard labels only). */
export function trainingConfigFor(context: StrategyContext, usesTeacher: boolean): RoundConfig {
  return { ...context.config.training, ...(usesTeacher ? {} : { alpha: 1 }) };
}

/** Refuses an update that carries a field this kind of round has no use for. */
export function refuseFields(
  update: UpdateMessage,
  fields: readonly ('delta' | 'predictions' | 'masked')[],
  why: string,
): void {
  for (const field of fields)
    if (update[field] !== undefined)
      throw new ContributionError(`${why}: a ${field} field cannot apply`, 'invalid-payload');
}

/**
 * Decodes an update's delta against the round's global weights (a bad one is
 * `rejected-weights`), then passes it through the coordinator's screen (the update bound): what
 * comes back is what the strategy folds in.
 */
export function decodeDelta(
  update: UpdateMessage,
  // Only the length of the global weights: an edge decodes deltas without holding them.
  round: {
    readonly global: { readonly length: number };
    readonly screenDelta?: RoundContext['screenDelta'];
  },
): ScreenedDelta {
  if (update.delta === undefined)
    throw new ContributionError('this round needs a weight delta', 'invalid-payload');
  let delta: Float32Array;
  try {
    delta = decodeWeights(update.delta, round.global.length);
  } catch (error) {
    throw new ContributionError((error as Error).message, 'rejected-weights');
  }
  return round.screenDelta ? round.screenDelta(delta) : { delta };
}

/** Mean of a list, or null when it is empty (no client reported the value). */
export function meanOf(values: readonly number[]): number | null {
  return values.length > 0 ? values.reduce((a, b) => a + b, 0) / values.length : null;
}
