/**
 * The cryptographic primitives of secure aggregation, all from WebCrypto
 * (`globalThis.crypto.subtle`: Node ≥ 20 and every current browser):
 * - key agreement: ECDH on P-256, raw (65-byte, uncompressed) public keys;
 * - key derivation: HKDF-SHA-256 over the ECDH secret, bound to the session
 *   (salt) and to a purpose and the pair of client ids (info);
 * - the pairwise channel that carries Shamir shares through the server:
 *   AES-256-GCM with a random 96-bit IV, the session and both ids as AAD;
 * - the mask generator: AES-256-CTR keystream of a 32-byte seed from counter 0,
 *   read as little-endian uint32 words.
 */
import { SecAggError } from './errors.js';

const subtle = (): SubtleCrypto => globalThis.crypto.subtle;
const ECDH = { name: 'ECDH', namedCurve: 'P-256' } as const;
const encoder = new TextEncoder();

/** Bytes of a raw uncompressed P-256 public key. */
export const PUBLIC_KEY_BYTES = 65;
/** Bytes of a mask seed. */
export const SEED_BYTES = 32;
/** AES-GCM IV of a sealed share. */
export const IV_BYTES = 12;

/** Copies into a fresh ArrayBuffer-backed array (WebCrypto wants exactly that). */
function own(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(bytes);
}

export interface KeyPair {
  readonly publicKey: CryptoKey;
  readonly privateKey: CryptoKey;
  /** The raw public key as advertised. */
  readonly publicRaw: Uint8Array;
}

/** A fresh ECDH P-256 key pair; the private key is extractable so it can be secret-shared. */
export async function generateKeyPair(): Promise<KeyPair> {
  const pair = (await subtle().generateKey(ECDH, true, ['deriveBits'])) as CryptoKeyPair;
  const publicRaw = new Uint8Array(await subtle().exportKey('raw', pair.publicKey));
  return { publicKey: pair.publicKey, privateKey: pair.privateKey, publicRaw };
}

/** @throws SecAggError `bad-message` for bytes that are not a P-256 point. */
export async function importPublicKey(raw: Uint8Array, whose: string): Promise<CryptoKey> {
  if (raw.length !== PUBLIC_KEY_BYTES) {
    throw new SecAggError(
      `${whose}: public key has ${raw.length} bytes, expected 65`,
      'bad-message',
    );
  }
  try {
    return await subtle().importKey('raw', own(raw), ECDH, true, []);
  } catch (err) {
    throw new SecAggError(
      `${whose}: public key is not a P-256 point (${String(err)})`,
      'bad-message',
    );
  }
}

function toBase64Url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text: string): Uint8Array {
  const s = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** The private scalar d of an ECDH P-256 key, 32 big-endian bytes. */
export async function exportPrivateScalar(privateKey: CryptoKey): Promise<Uint8Array> {
  const jwk = await subtle().exportKey('jwk', privateKey);
  if (jwk.d === undefined) throw new SecAggError('private key has no scalar', 'bad-message');
  return fromBase64Url(jwk.d);
}

/**
 * Rebuilds a private key from its scalar and the owner's advertised public key
 * (WebCrypto imports EC private keys as JWK, which needs both).
 * @throws SecAggError `bad-message` when the pair does not import.
 */
export async function importPrivateScalar(
  scalar: Uint8Array,
  publicRaw: Uint8Array,
  whose: string,
): Promise<CryptoKey> {
  if (publicRaw.length !== PUBLIC_KEY_BYTES || scalar.length !== 32) {
    throw new SecAggError(`${whose}: bad key sizes`, 'bad-message');
  }
  const jwk: JsonWebKey = {
    kty: 'EC',
    crv: 'P-256',
    d: toBase64Url(scalar),
    x: toBase64Url(publicRaw.subarray(1, 33)),
    y: toBase64Url(publicRaw.subarray(33, 65)),
  };
  try {
    return await subtle().importKey('jwk', jwk, ECDH, true, ['deriveBits']);
  } catch (err) {
    throw new SecAggError(
      `${whose}: reconstructed key does not import (${String(err)})`,
      'bad-message',
    );
  }
}

/**
 * 32 bytes from HKDF-SHA-256 over ECDH(privateKey, publicKey), salted with the
 * session and labelled with the purpose and the (unordered) pair of ids, so
 * both ends derive the same bytes and no two pairs, purposes or sessions share them.
 */
export async function deriveSharedBytes(
  privateKey: CryptoKey,
  publicKey: CryptoKey,
  session: string,
  purpose: 'mask' | 'channel',
  a: number,
  b: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const secret = await subtle().deriveBits({ name: 'ECDH', public: publicKey }, privateKey, 256);
  const ikm = await subtle().importKey('raw', secret, 'HKDF', false, ['deriveBits']);
  const info = encoder.encode(`fedistill-secagg/${purpose}/${Math.min(a, b)}/${Math.max(a, b)}`);
  const bits = await subtle().deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: encoder.encode(session), info },
    ikm,
    256,
  );
  return new Uint8Array(bits);
}

/** AES-256-GCM key for the pairwise channel from 32 derived bytes. */
export function channelKey(bytes: Uint8Array): Promise<CryptoKey> {
  return subtle().importKey('raw', own(bytes), 'AES-GCM', false, ['encrypt', 'decrypt']);
}

function aad(session: string, from: number, to: number): Uint8Array<ArrayBuffer> {
  return encoder.encode(`fedistill-secagg/share/${session}/${from}/${to}`);
}

/** Encrypts `plaintext` from → to; returns the IV and ciphertext (with its 16-byte tag). */
export async function sealShare(
  key: CryptoKey,
  session: string,
  from: number,
  to: number,
  plaintext: Uint8Array,
): Promise<{ iv: Uint8Array; ciphertext: Uint8Array }> {
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ciphertext = await subtle().encrypt(
    { name: 'AES-GCM', iv, additionalData: aad(session, from, to) },
    key,
    own(plaintext),
  );
  return { iv, ciphertext: new Uint8Array(ciphertext) };
}

/** @throws SecAggError `bad-message` when the ciphertext does not authenticate. */
export async function openShare(
  key: CryptoKey,
  session: string,
  from: number,
  to: number,
  iv: Uint8Array,
  ciphertext: Uint8Array,
): Promise<Uint8Array> {
  try {
    const plain = await subtle().decrypt(
      { name: 'AES-GCM', iv: own(iv), additionalData: aad(session, from, to) },
      key,
      own(ciphertext),
    );
    return new Uint8Array(plain);
  } catch {
    throw new SecAggError(`share from ${from} to ${to} does not authenticate`, 'bad-message');
  }
}

/**
 * `length` pseudorandom uint32 words from a 32-byte seed: the AES-256-CTR
 * keystream (counter block 0, 64-bit counter), little-endian. Deterministic:
 * both ends of a pair expand the same seed to the same mask.
 */
export async function expandMask(seed: Uint8Array, length: number): Promise<Uint32Array> {
  if (seed.length !== SEED_BYTES)
    throw new SecAggError('mask seed must be 32 bytes', 'bad-message');
  const key = await subtle().importKey('raw', own(seed), 'AES-CTR', false, ['encrypt']);
  const stream = await subtle().encrypt(
    { name: 'AES-CTR', counter: new Uint8Array(16), length: 64 },
    key,
    new Uint8Array(length * 4),
  );
  // The keystream read as little-endian words: on a little-endian host that is
  // a plain view of the bytes WebCrypto returned (no per-word loop, no copy).
  if (LITTLE_ENDIAN) return new Uint32Array(stream);
  const view = new DataView(stream);
  const out = new Uint32Array(length);
  for (let i = 0; i < length; i++) out[i] = view.getUint32(i * 4, true);
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
