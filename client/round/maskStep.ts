/**
 * Secure aggregation's last client step: the (privatised) delta is masked for
 * the round's secure session and travels in its place.
 */
import type { SecureSession } from '../secureSession.js';
import type { RoundStep } from './roundWork.js';

export function maskDelta(secure: SecureSession): RoundStep {
  return async (work, env) => {
    if (!work.delta) return work;
    const masked = await secure.mask(work.delta, work.round.deadline, env.signal);
    return { ...work, masked: { masked, session: secure.session } };
  };
}
