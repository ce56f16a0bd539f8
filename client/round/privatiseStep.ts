/**
 * Client-side differential privacy: when the round asks for it, the delta is
 * clipped to `clipNorm` and Gaussian noise added, from a seed the coordinator
 * never sees, so the update is private before it leaves the device.
 */
import { createRng } from '../../shared/data/index.js';
import { clipAndNoise, secureSeed } from '../../shared/privacy/index.js';
import type { RoundStep } from './roundWork.js';

export const privatiseDelta: RoundStep = (work) => {
  const privacy = work.round.config.privacy;
  if (!privacy || !work.delta) return work;
  return { ...work, delta: clipAndNoise(work.delta, { ...privacy, rng: createRng(secureSeed()) }) };
};
