/**
 * Signed envelopes for everything edges and the master say to each other over
 * Redis. Anyone who can write to the Redis server could otherwise join
 * clients, grant claims or inject partial sums.
 *
 * What the seal protects: each entry carries an HMAC-SHA256, under the edge
 * secret, of the stream it was written to (which names the cluster and, down,
 * the addressed edge), its direction, the edge it is from (up) or for (down),
 * the sender's incarnation (a random id per process: an edge's, or the
 * master's run of the control plane), a sequence number that rises with every
 * entry the sender writes, and the MessagePack body. The seal is checked in
 * constant time before the body is decoded, and a receiver (ReplayGuard)
 * drops an entry whose sequence does not rise for its sender's incarnation,
 * or that comes from an incarnation of that sender it has seen replaced. So a
 * forged or altered entry is refused, as is a genuine one copied to another
 * cluster's or another edge's stream, turned around, or written again
 * (replayed) while its sender's incarnation is the one the receiver knows.
 *
 * What it does not protect: confidentiality (bodies — join payloads, rejoin
 * secrets, weights — are readable by anyone who can read Redis: keep Redis
 * private, docs/scaling.md); entries deleted or held back (a Redis writer can
 * drop them, and the receiver sees only silence); and entries of an
 * incarnation the receiver has never seen (say, captured from an earlier run
 * sharing the secret and cluster name and written again to a receiver that
 * started since), which look like a new sender's: use a fresh secret or
 * cluster name per run where that matters.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Which way a message goes: the direction is signed, so a master message cannot be replayed as an edge's. */
export type Direction = 'up' | 'down';

/** The fewest characters an edge secret may have (a guessable secret signs forged partials). */
export const MIN_EDGE_SECRET_LENGTH = 16;

export interface Envelope {
  /** The edge that sent it (up) or is addressed (down). */
  readonly edge: string;
  /** The sending process's incarnation (newIncarnation). */
  readonly incarnation: string;
  /** Rises with each entry its sender writes. */
  readonly seq: number;
  readonly body: Uint8Array;
  readonly mac: Uint8Array;
}

/** What the seal is over, besides the body. */
export interface SealContext {
  readonly secret: string;
  /** The Redis stream key (it names the cluster, and down, the edge). */
  readonly stream: string;
  readonly direction: Direction;
}

/** A random id for one process's sending: a restart is a new incarnation. */
export function newIncarnation(): string {
  return randomBytes(8).toString('hex');
}

function macOf(
  context: SealContext,
  envelope: Pick<Envelope, 'edge' | 'incarnation' | 'seq' | 'body'>,
): Uint8Array {
  return createHmac('sha256', context.secret)
    .update(
      `fedistill-edge-v2\0${context.stream}\0${context.direction}\0${envelope.edge}\0${envelope.incarnation}\0${envelope.seq}\0`,
    )
    .update(envelope.body)
    .digest();
}

export function seal(
  context: SealContext,
  envelope: Pick<Envelope, 'edge' | 'incarnation' | 'seq' | 'body'>,
): Envelope {
  return { ...envelope, mac: macOf(context, envelope) };
}

/** Whether `envelope` was sealed under `context` (constant-time comparison). */
export function verifySeal(context: SealContext, envelope: Envelope): boolean {
  const expected = macOf(context, envelope);
  return envelope.mac.byteLength === expected.byteLength && timingSafeEqual(envelope.mac, expected);
}

/** Replaced incarnations remembered per sender (a bound: a restart loop must not grow it). */
const RETIRED_PER_SENDER = 64;

/**
 * A receiver's memory of its senders' sequences: an entry (already verified) is fresh only when
 * its sequence rises for its sender's incarnation; a new incarnation replaces the sender's last.
 */
export class ReplayGuard {
  private readonly senders = new Map<
    string,
    { incarnation: string; seq: number; retired: string[] }
  >();

  /** Why the entry is a replay, or undefined when it is fresh (and now remembered). */
  check(sender: string, incarnation: string, seq: number): string | undefined {
    const known = this.senders.get(sender);
    if (!known) {
      this.senders.set(sender, { incarnation, seq, retired: [] });
      return undefined;
    }
    if (known.incarnation === incarnation) {
      if (seq <= known.seq)
        return `replayed: sequence ${seq} is not after ${known.seq} for incarnation ${incarnation}`;
      known.seq = seq;
      return undefined;
    }
    if (known.retired.includes(incarnation))
      return `replayed: incarnation ${incarnation} of ${sender} was replaced`;
    known.retired.push(known.incarnation);
    if (known.retired.length > RETIRED_PER_SENDER) known.retired.shift();
    known.incarnation = incarnation;
    known.seq = seq;
    return undefined;
  }
}

/** Throws a clear error for a missing or short edge secret. */
export function checkEdgeSecret(secret: string | undefined, field = '--edge-secret'): string {
  if (secret === undefined || secret.length === 0)
    throw new Error(`${field} (or FEDISTILL_EDGE_SECRET) is required with edges`);
  if (secret.length < MIN_EDGE_SECRET_LENGTH)
    throw new Error(`${field} must have at least ${MIN_EDGE_SECRET_LENGTH} characters`);
  return secret;
}
