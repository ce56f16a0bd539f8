/**
 * `fedmd` (Li & Wang 2019): logit exchange whose consensus is the plain mean of
 * the clients' predictions on the round's proxy sample.
 */
import type { StrategyDefinition } from './strategy.js';
import { LOGIT_EXCHANGE_CAPABILITIES, LogitExchangeStrategy } from './logitExchange.js';

export const fedMdStrategy: StrategyDefinition = {
  name: 'fedmd',
  summary: 'logit exchange on the proxy set, consensus = mean; no weights travel',
  capabilities: LOGIT_EXCHANGE_CAPABILITIES,
  create: (context) => new LogitExchangeStrategy('fedmd', context, (mean) => mean),
};
