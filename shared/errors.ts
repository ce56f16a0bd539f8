/**
 * Typed errors shared by every part of fedistill. Each sets `name` so that
 * callers (and peers reading an error ack) can tell them apart without
 * `instanceof` across realms or bundles.
 */

/** Bad arguments to a numeric routine: shapes, ranges, non-distributions. */
export class DistillationInputError extends Error {
  override readonly name = 'DistillationInputError';
}

/** Bytes from a peer that cannot be decoded safely. */
export class CodecError extends Error {
  override readonly name = 'CodecError';
  constructor(
    message: string,
    readonly code: CodecErrorCode,
  ) {
    super(message);
  }
}

export type CodecErrorCode =
  'too-large' | 'too-deep' | 'malformed' | 'wrong-type' | 'non-finite' | 'forbidden-key';

/** A message that passed decoding but breaks the protocol's schema or rules. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** A model spec or weight set that does not fit the model it is meant for. */
export class ModelSpecError extends Error {
  override readonly name = 'ModelSpecError';
}

/** Data files or arrays that cannot be read as a dataset. */
export class DatasetError extends Error {
  override readonly name = 'DatasetError';
}
