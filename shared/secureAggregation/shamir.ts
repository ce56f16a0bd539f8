/**
 * Shamir secret sharing (Shamir 1979) over the prime field GF(p), p = 2⁵²¹ − 1
 * (a Mersenne prime, so any 256-bit secret — a P-256 private key, a 32-byte
 * seed — is one field element). A secret is the constant term of a random
 * polynomial of degree t − 1; share x is its value at x. Any t shares give the
 * secret back by Lagrange interpolation at 0; t − 1 shares are consistent with
 * every secret, so they reveal nothing about it.
 */
import { SecAggError } from './errors.js';

/** The field's prime, 2⁵²¹ − 1. */
export const SHAMIR_PRIME = (1n << 521n) - 1n;
/** Bytes of one encoded field element (⌈521/8⌉). */
export const FIELD_BYTES = 66;

/** One share: the polynomial's value y at the point x (a client id, never 0). */
export interface Share {
  readonly x: number;
  readonly y: bigint;
}

function mod(a: bigint): bigint {
  const r = a % SHAMIR_PRIME;
  return r < 0n ? r + SHAMIR_PRIME : r;
}

/** a⁻¹ mod p by the extended Euclidean algorithm; a ≠ 0 mod p. */
function invert(a: bigint): bigint {
  let [oldR, r] = [mod(a), SHAMIR_PRIME];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return mod(oldS);
}

/** Big-endian bytes → bigint. */
export function bytesToBigInt(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/** bigint → `length` big-endian bytes. @throws SecAggError `overflow` when it does not fit. */
export function bigIntToBytes(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let v = value;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (v !== 0n || value < 0n)
    throw new SecAggError(`value does not fit in ${length} bytes`, 'overflow');
  return out;
}

/** A uniform field element from the platform CSPRNG (640 random bits reduced mod p: bias < 2⁻¹¹⁸). */
function randomFieldElement(): bigint {
  return mod(bytesToBigInt(globalThis.crypto.getRandomValues(new Uint8Array(80))));
}

function checkPoints(xs: readonly number[]): void {
  const seen = new Set<number>();
  for (const x of xs) {
    if (!Number.isSafeInteger(x) || x < 1) {
      throw new SecAggError(`share points must be integers ≥ 1, got ${x}`, 'unknown-client');
    }
    if (seen.has(x)) throw new SecAggError(`share point ${x} appears twice`, 'duplicate');
    seen.add(x);
  }
}

/**
 * Splits `secret` (0 ≤ secret < p) into one share per point in `xs`, any
 * `threshold` of which reconstruct it. Coefficients come from
 * `globalThis.crypto.getRandomValues`.
 *
 * @throws SecAggError `bad-option` unless 1 ≤ threshold ≤ xs.length; `overflow`
 *   for a secret outside the field; `unknown-client`/`duplicate` for bad points.
 */
export function shareSecret(secret: bigint, xs: readonly number[], threshold: number): Share[] {
  checkPoints(xs);
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > xs.length) {
    throw new SecAggError(`threshold must be in 1..${xs.length}, got ${threshold}`, 'bad-option');
  }
  if (secret < 0n || secret >= SHAMIR_PRIME) {
    throw new SecAggError('secret must be a field element', 'overflow');
  }
  const coefficients = [secret];
  for (let k = 1; k < threshold; k++) coefficients.push(randomFieldElement());
  return xs.map((x) => {
    // Horner's rule at x.
    const bx = BigInt(x);
    let y = 0n;
    for (let k = coefficients.length - 1; k >= 0; k--)
      y = mod(y * bx + (coefficients[k] as bigint));
    return { x, y };
  });
}

/**
 * The polynomial's value at 0 by Lagrange interpolation through `shares`. With
 * at least `threshold` shares of one secret this is the secret; with fewer it
 * is an unrelated field element (no error can tell: that is the point).
 *
 * @throws SecAggError `too-few` for no shares; `duplicate`/`unknown-client` for bad points.
 */
export function reconstructSecret(shares: readonly Share[]): bigint {
  if (shares.length === 0) throw new SecAggError('no shares to reconstruct from', 'too-few');
  checkPoints(shares.map((s) => s.x));
  let secret = 0n;
  for (const { x: xi, y } of shares) {
    let num = 1n;
    let den = 1n;
    for (const { x: xj } of shares) {
      if (xj === xi) continue;
      num = mod(num * BigInt(-xj));
      den = mod(den * BigInt(xi - xj));
    }
    secret = mod(secret + y * num * invert(den));
  }
  return secret;
}
