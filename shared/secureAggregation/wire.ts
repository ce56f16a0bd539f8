/** Validation and byte layouts shared by the secure-aggregation client and server. */
import { SecAggError } from './errors.js';
import type { SecAggConfig } from './messages.js';
import { bigIntToBytes, bytesToBigInt, FIELD_BYTES, SHAMIR_PRIME } from './shamir.js';

/** Largest client id (ids are uint32 in the share plaintext and Shamir points). */
export const MAX_CLIENT_ID = 0xffffffff;
/** Bytes of a share plaintext: from, to (uint32 BE each), then two field elements. */
export const SHARE_PLAINTEXT_BYTES = 8 + 2 * FIELD_BYTES;
/** Bytes of a sealed share: the plaintext plus AES-GCM's 16-byte tag. */
export const SHARE_CIPHERTEXT_BYTES = SHARE_PLAINTEXT_BYTES + 16;

/** @throws SecAggError `unknown-client` unless 1 ≤ id ≤ 2³² − 1, an integer. */
export function checkId(id: number): void {
  if (!Number.isInteger(id) || id < 1 || id > MAX_CLIENT_ID) {
    throw new SecAggError(
      `client ids must be integers in 1..${MAX_CLIENT_ID}, got ${id}`,
      'unknown-client',
    );
  }
}

/** @throws SecAggError `bad-option` for a config outside its domain. */
export function checkConfig(config: Readonly<SecAggConfig>): void {
  const { session, threshold, length } = config;
  if (typeof session !== 'string' || session.length === 0) {
    throw new SecAggError('session must be a non-empty string', 'bad-option');
  }
  if (!Number.isInteger(threshold) || threshold < 1) {
    throw new SecAggError(`threshold must be an integer ≥ 1, got ${threshold}`, 'bad-option');
  }
  if (!Number.isInteger(length) || length < 0) {
    throw new SecAggError(`length must be an integer ≥ 0, got ${length}`, 'bad-option');
  }
}

export function encodeSharePlaintext(
  from: number,
  to: number,
  selfSeed: bigint,
  maskKey: bigint,
): Uint8Array {
  const out = new Uint8Array(SHARE_PLAINTEXT_BYTES);
  const view = new DataView(out.buffer);
  view.setUint32(0, from);
  view.setUint32(4, to);
  out.set(bigIntToBytes(selfSeed, FIELD_BYTES), 8);
  out.set(bigIntToBytes(maskKey, FIELD_BYTES), 8 + FIELD_BYTES);
  return out;
}

export function decodeSharePlaintext(bytes: Uint8Array): {
  from: number;
  to: number;
  selfSeed: bigint;
  maskKey: bigint;
} {
  if (bytes.length !== SHARE_PLAINTEXT_BYTES) {
    throw new SecAggError(`share plaintext has ${bytes.length} bytes`, 'bad-message');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    from: view.getUint32(0),
    to: view.getUint32(4),
    selfSeed: decodeFieldElement(bytes.subarray(8, 8 + FIELD_BYTES)),
    maskKey: decodeFieldElement(bytes.subarray(8 + FIELD_BYTES)),
  };
}

/** @throws SecAggError `bad-message` unless 66 bytes holding a value < p. */
export function decodeFieldElement(bytes: Uint8Array): bigint {
  if (bytes.length !== FIELD_BYTES) {
    throw new SecAggError(
      `a share has ${bytes.length} bytes, expected ${FIELD_BYTES}`,
      'bad-message',
    );
  }
  const v = bytesToBigInt(bytes);
  if (v >= SHAMIR_PRIME) throw new SecAggError('a share is not a field element', 'bad-message');
  return v;
}
