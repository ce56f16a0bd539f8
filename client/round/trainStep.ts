/**
 * The load and train steps: the global weights (when they travel) go into the
 * client's model, the student trains on the private data plus the round's proxy
 * set with the shared loss, and the delta is what training changed.
 */
import { deriveSeed } from '../../shared/data/index.js';
import { decodeWeights } from '../../shared/codec/index.js';
import { getFlatWeights, setFlatWeights } from '../../shared/models/index.js';
import type { TrainMetrics } from '../../shared/protocol/index.js';
import { evaluate, trainLocal } from '../../shared/training/index.js';
import type { RoundStep } from './roundWork.js';

/** Without weights (logit exchange, local training) the client trains its own model on. */
export const loadGlobalWeights: RoundStep = (work, env) => {
  if (!work.round.weights) return { ...work, start: getFlatWeights(env.model) };
  const start = decodeWeights(work.round.weights, env.numParams);
  setFlatWeights(env.model, start);
  return { ...work, start };
};

export const trainStudent: RoundStep = async (work, env) => {
  const { round } = work;
  const result = await trainLocal({
    model: env.model,
    spec: env.spec,
    data: env.data,
    ...(env.proxy ? { proxy: env.proxy } : {}),
    config: round.config,
    // Clients with seeds draw different batches; the round id still varies them by round.
    seed: deriveSeed(round.roundId, 'clientBatches', env.seed),
    signal: env.signal,
    onProgress: (p) => env.emit({ type: 'train:progress', roundId: round.roundId, ...p }),
  });
  const metrics: TrainMetrics = {
    loss: result.loss,
    accuracy: result.accuracy,
    trainMillis: result.millis,
    steps: result.steps,
    ...(env.validation ? { validationAccuracy: evaluate(env.model, env.validation).accuracy } : {}),
  };
  env.emit({ type: 'round:trained', roundId: round.roundId, metrics });
  let delta: Float32Array | undefined;
  if (round.weights && work.start) {
    const trained = getFlatWeights(env.model);
    delta = new Float32Array(trained.length);
    for (let i = 0; i < delta.length; i++) delta[i] = trained[i]! - work.start[i]!;
  }
  return {
    ...work,
    trained: { numSamples: result.numSamples, metrics },
    ...(delta ? { delta } : {}),
  };
};
