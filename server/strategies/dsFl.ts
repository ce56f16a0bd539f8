/**
 * `dsfl` (Itahara et al. 2021): logit exchange whose consensus goes through
 * entropy reduction — the averaged probabilities p̄ of each row become
 * softmax(p̄ / T) with T < 1 — so that non-IID clients' flat averages still
 * teach a class.
 */
import { softmaxRows } from '../../shared/softLabels/index.js';
import type { StrategyDefinition } from './strategy.js';
import { LOGIT_EXCHANGE_CAPABILITIES, LogitExchangeStrategy } from './logitExchange.js';

/** DS-FL's entropy-reduction aggregation: softmax(p̄ / T) of each row. */
export function sharpen(
  probs: Float32Array,
  numClasses: number,
  temperature: number,
): Float32Array {
  return softmaxRows(probs, numClasses, temperature);
}

export const dsFlStrategy: StrategyDefinition = {
  name: 'dsfl',
  summary: 'logit exchange, consensus sharpened by entropy reduction; no weights travel',
  capabilities: LOGIT_EXCHANGE_CAPABILITIES,
  create: (context) =>
    new LogitExchangeStrategy('dsfl', context, (mean) =>
      sharpen(mean, context.numClasses, context.config.logitExchange.sharpenTemperature),
    ),
};
