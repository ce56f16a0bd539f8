// Public API of shared/privacy: client-side Gaussian mechanism and the RDP accountant.
export { PrivacyError } from './errors.js';
export { clipAndNoise, secureSeed } from './gaussianMechanism.js';
export type { ClipAndNoiseOptions } from './gaussianMechanism.js';
export {
  computeEpsilon,
  computeRdp,
  DEFAULT_RDP_ORDERS,
  epsilonFromRdp,
  RdpAccountant,
  rdpOfSampledGaussian,
} from './rdp.js';
export type { ComputeEpsilonOptions, PrivacySpent, RdpConversion, SampledGaussian } from './rdp.js';
