/** Typed errors of shared/secureAggregation. */

/** Why a secure-aggregation step was refused; stable for logs and error acks. */
export type SecAggErrorCode =
  /** A message or call out of order (e.g. masked input before the keys were shared). */
  | 'phase'
  /** Fewer participants (or responses) than the threshold t: nothing can be unmasked. */
  | 'too-few'
  /** A second message of the same kind from the same client. */
  | 'duplicate'
  /** A client id that is not in this round (or not a positive integer). */
  | 'unknown-client'
  /** A message that is malformed: lengths, keys that do not parse, ciphertext that does not open. */
  | 'bad-message'
  /** A value outside what the fixed-point ring can sum without wrapping. */
  | 'overflow'
  /** Configuration outside its domain. */
  | 'bad-option';

/** A refused secure-aggregation message or call; the state machine is unchanged when it is thrown. */
export class SecAggError extends Error {
  override readonly name = 'SecAggError';
  /**
   * @param culprits for shares that do not open: the clients that sealed them (or whose
   *   shares were tampered with on the way), so the caller can say whom it could not verify.
   */
  constructor(
    message: string,
    readonly code: SecAggErrorCode,
    readonly culprits: readonly number[] = [],
  ) {
    super(message);
  }
}
