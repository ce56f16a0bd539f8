/**
 * Signed envelopes for everything edges and the master say to each other over
 * Redis. Anyone who can write to the Redis server could otherwise join
 * clients, grant claims or inject partial sums: each message carries an
 * HMAC-SHA256 of its sender, direction and MessagePack body under the edge
 * secret, checked in constant time before the body is even decoded.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Which way a message goes: the direction is signed, so a master message cannot be replayed as an edge's. */
export type Direction = 'up' | 'down';

/** The fewest characters an edge secret may have (a guessable secret signs forged partials). */
export const MIN_EDGE_SECRET_LENGTH = 16;

export interface Envelope {
  /** The edge that sent it (up) or is addressed (down). */
  readonly edge: string;
  readonly body: Uint8Array;
  readonly mac: Uint8Array;
}

function macOf(secret: string, direction: Direction, edge: string, body: Uint8Array): Uint8Array {
  return createHmac('sha256', secret)
    .update(`fedistill-edge\0${direction}\0${edge}\0`)
    .update(body)
    .digest();
}

export function seal(
  secret: string,
  direction: Direction,
  edge: string,
  body: Uint8Array,
): Envelope {
  return { edge, body, mac: macOf(secret, direction, edge, body) };
}

/** Whether `envelope` was sealed with `secret` for `direction` (constant-time comparison). */
export function verifySeal(secret: string, direction: Direction, envelope: Envelope): boolean {
  const expected = macOf(secret, direction, envelope.edge, envelope.body);
  return envelope.mac.byteLength === expected.byteLength && timingSafeEqual(envelope.mac, expected);
}

/** Throws a clear error for a missing or short edge secret. */
export function checkEdgeSecret(secret: string | undefined, field = '--edge-secret'): string {
  if (secret === undefined || secret.length === 0)
    throw new Error(`${field} (or FEDISTILL_EDGE_SECRET) is required with edges`);
  if (secret.length < MIN_EDGE_SECRET_LENGTH)
    throw new Error(`${field} must have at least ${MIN_EDGE_SECRET_LENGTH} characters`);
  return secret;
}
