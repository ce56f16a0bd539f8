// Public API of shared/secureAggregation: pairwise-masked secure aggregation
// with dropout recovery (Bonawitz et al. 2017), Shamir sharing, fixed-point encoding.
export { SecAggClient } from './client.js';
export { SecAggServer } from './server.js';
export type { SecAggServerPhase } from './server.js';
export { SecAggError } from './errors.js';
export type { SecAggErrorCode } from './errors.js';
export type {
  AdvertiseKeys,
  EncryptedShare,
  MaskedInput,
  RevealedShare,
  SecAggConfig,
  ShareKeys,
  UnmaskShares,
} from './messages.js';
export { dequantize, quantize, quantizeBound } from './quantize.js';
export type { QuantizeOptions } from './quantize.js';
export { FIELD_BYTES, reconstructSecret, shareSecret, SHAMIR_PRIME } from './shamir.js';
export type { Share } from './shamir.js';
export { expandMask, IV_BYTES, PUBLIC_KEY_BYTES } from './crypto.js';
export { SHARE_CIPHERTEXT_BYTES } from './wire.js';
