/** A strategy's run context and updates for unit tests: default settings, tiny models. */
import type { CoordinatorConfigInput } from '../../../../server/config.js';
import { parseCoordinatorConfig } from '../../../../server/config.js';
import type { RoundContext, StrategyContext } from '../../../../server/strategies/index.js';
import type { ModelSpec, UpdateMessage } from '../../../../shared/index.js';
import { encodeSoftLabels, encodeWeights, mlpSpec } from '../../../../shared/index.js';
import type { ProxyData } from '../../../../shared/data/types.js';

export const metrics = { loss: 1, accuracy: 0.5, trainMillis: 1, steps: 1 };

export function strategyContext(
  config: CoordinatorConfigInput = {},
  options: { spec?: ModelSpec; proxy?: ProxyData; proxyCount?: number } = {},
): StrategyContext {
  const spec = options.spec ?? mlpSpec(3, [4], 2);
  return {
    config: parseCoordinatorConfig(config),
    studentSpec: spec,
    numClasses: spec.numClasses,
    proxyCount: options.proxyCount ?? options.proxy?.count ?? 10,
    ...(options.proxy ? { proxy: options.proxy } : {}),
  };
}

export function roundContext(roundId: number, global: Float32Array): RoundContext {
  return {
    roundId,
    global,
    sampled: [
      { clientId: 'a', numSamples: 3 },
      { clientId: 'b', numSamples: 1 },
    ],
    deadline: Date.now() + 60_000,
    attempt: `test/${roundId}`,
  };
}

export function deltaUpdate(delta: number[], numSamples: number, roundId = 1): UpdateMessage {
  return {
    roundId,
    modelVersion: 0,
    numSamples,
    delta: encodeWeights(Float32Array.from(delta), 'float32'),
    metrics,
  };
}

export function predictionUpdate(
  indices: Int32Array,
  probs: number[],
  validationAccuracy?: number,
): UpdateMessage {
  return {
    roundId: 1,
    modelVersion: 0,
    numSamples: 5,
    predictions: {
      indices,
      probs: encodeSoftLabels(Float32Array.from(probs), { numClasses: 2, precision: 'float32' }),
    },
    metrics: { ...metrics, ...(validationAccuracy !== undefined ? { validationAccuracy } : {}) },
  };
}

/** Aggregation options for a quorum of `needed` participants. */
export function quorumOf(needed: number) {
  return { stopping: false, enough: (participants: number) => participants >= needed };
}
