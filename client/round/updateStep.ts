/**
 * What goes back to the coordinator: the masked input or the encoded delta
 * (per-tensor int8 scales where the round asks for int8), the predictions a
 * logit-exchange round asked for, and the training metrics.
 */
import { encodeWeights } from '../../shared/codec/index.js';
import { weightSegments } from '../../shared/models/index.js';
import type { ProxyPredictions } from '../../shared/protocol/index.js';
import { encodeSoftLabels } from '../../shared/softLabels/index.js';
import { predictProbs, proxyRows } from '../../shared/training/index.js';
import type { RoundEnv, RoundStep } from './roundWork.js';

/** This client's probabilities at temperature T on the requested proxy samples, compactly encoded. */
function predictionsOn(env: RoundEnv, indices: Int32Array, temperature: number): ProxyPredictions {
  if (!env.proxy) throw new Error('predictions requested before the proxy set loaded');
  const probs = predictProbs(env.model, proxyRows(env.proxy, indices), indices.length, temperature);
  return {
    indices,
    probs: encodeSoftLabels(probs, { numClasses: env.spec.numClasses, precision: 'float16' }),
  };
}

export const composeUpdate: RoundStep = (work, env) => {
  const { round, trained, delta, masked } = work;
  if (!trained) throw new Error(`round ${round.roundId}: nothing was trained`);
  return {
    ...work,
    update: {
      roundId: round.roundId,
      modelVersion: round.modelVersion,
      numSamples: trained.numSamples,
      ...(masked ? { masked: masked.masked, session: masked.session } : {}),
      ...(delta && !masked
        ? {
            // Per-tensor int8 scales: one shared scale would round small tensors (biases) to zero.
            delta: encodeWeights(delta, round.config.updatePrecision, {
              segments: weightSegments(env.model),
            }),
          }
        : {}),
      ...(round.predict
        ? { predictions: predictionsOn(env, round.predict.indices, round.config.temperature) }
        : {}),
      metrics: trained.metrics,
    },
  };
};
