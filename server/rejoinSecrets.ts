/**
 * Rejoin secrets: what proves a join naming an existing client id comes from
 * that client. Without one, anyone who learnt an id (they are listed by
 * `GET /api/clients`) could rejoin as it, and the coordinator would close the
 * real client's connection and hand its round to the impostor.
 *
 * The first join of an id is given a random secret; a later join naming the
 * id must present it. Only its SHA-256 is kept (SQLite, so a resumed run
 * still knows it), and the comparison takes constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 32 random bytes, base64url: 43 characters. */
export function newRejoinSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function hashRejoinSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export function rejoinSecretMatches(secret: string, hash: Uint8Array): boolean {
  const presented = hashRejoinSecret(secret);
  return hash.byteLength === presented.byteLength && timingSafeEqual(presented, hash);
}

/**
 * Decides a join's secret.
 * @param stored the id's stored hash: undefined for an id the run has not seen, null for one
 *   recorded before rejoin secrets existed (the first to rejoin it claims it).
 * @param ownedByToken the connection holds the per-client token the id is bound to
 *   (server/auth.ts): the token is the proof, and a device that lost its secret gets a new one.
 * @returns the secret to hand back, with the hash to store when it is new; undefined when the
 *   join must be refused.
 */
export function settleRejoinSecret(
  stored: Uint8Array | null | undefined,
  presented: string | undefined,
  ownedByToken: boolean,
): { secret: string; newHash?: Buffer } | undefined {
  if (stored && presented !== undefined && rejoinSecretMatches(presented, stored))
    return { secret: presented };
  if (stored && !ownedByToken) return undefined;
  const secret = newRejoinSecret();
  return { secret, newHash: hashRejoinSecret(secret) };
}
