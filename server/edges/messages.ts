/**
 * What edges and the master say to each other over Redis (MessagePack bodies
 * of signed envelopes, envelope.ts). Up: an edge's connections, the events its
 * clients send (an update without its delta: a claim), heartbeats and one
 * partial sum per round. Down: acks and events for the edge's connections,
 * the round's opening and closing.
 */
import { z } from 'zod';
import type { UpdateBoundConfig } from '../robustness/index.js';

/**
 * Client events an edge forwards; `update` arrives without its delta or masked input (the edge
 * folds it). Not `secagg`: an edge runs the protocol's steps with its own group itself
 * (edgeSecureGroup.ts), so they never reach the master.
 */
export const FORWARDED_EVENTS = ['join', 'update', 'abstain'] as const;
export type ForwardedEvent = (typeof FORWARDED_EVENTS)[number];

const id = z.string().min(1).max(200);

export const refusalTallySchema = z.record(
  z.string().max(100),
  z.strictObject({ count: z.number().int().min(0), bytes: z.number().int().min(0) }),
);
export type RefusalTally = z.infer<typeof refusalTallySchema>;

/**
 * One edge's sample-weighted sum of the deltas it accepted in a round. Under buffered rounds
 * (fedbuff) `roundId` is the buffer, `clients` the grant ids folded, `sum` Σ s(τ)·clip·delta and
 * `weight` Σ s(τ) over them (edgeEpochs.ts).
 */
export const partialSchema = z.strictObject({
  t: z.literal('partial'),
  roundId: z.number().int().min(1),
  /** Σ numSamples·delta over `clients`, float64; absent when no client was folded in. */
  sum: z.instanceof(Float64Array).optional(),
  /** Σ numSamples over `clients`. */
  weight: z.number().min(0),
  /** The clients folded in, once each. */
  clients: z.array(id).max(1_000_000),
  /** Updates the edge refused itself (schema, delta, update bound), by refusal code. */
  refusals: refusalTallySchema,
  /** Bytes the edge's clients sent in this round's updates (accepted and refused). */
  bytesIn: z.number().int().min(0),
  /** A secure group whose sum could not be unmasked (too few clients stayed): why. */
  note: z.string().max(1000).optional(),
});
export type PartialMessage = z.infer<typeof partialSchema>;

/**
 * Buffered rounds (fedbuff, edgeGrants.ts): what the master tells an edge with the ack of a
 * claim it admitted into its buffer.
 */
export const grantSchema = z.strictObject({
  /** The buffer (round id) the update is folded into. */
  epoch: z.number().int().min(1),
  /** s(τ), as the master computed it from what it sent the client. */
  weight: z.number().gt(0).max(1),
  /** Names the update in the edge's partial: a client may be granted several in one buffer. */
  id: z.string().min(1).max(200),
  /** The update bound's factor (bound / norm), present when the master clipped the delta. */
  clip: z.number().gt(0).lt(1).optional(),
});
export type Grant = z.infer<typeof grantSchema>;

export const upMessageSchema = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('hello') }),
  z.strictObject({ t: z.literal('connect'), link: id }),
  z.strictObject({
    t: z.literal('event'),
    link: id,
    event: z.enum(FORWARDED_EVENTS),
    payload: z.unknown(),
    req: z.number().int().min(0),
    /** Size of the client's frame at the edge (the update with its delta). */
    bytes: z.number().int().min(0),
    /** A claim's: the L2 norm of the delta as the client sent it, measured at the edge. */
    norm: z.number().min(0).optional(),
  }),
  z.strictObject({ t: z.literal('gone'), link: id }),
  partialSchema,
]);
export type UpMessage = z.infer<typeof upMessageSchema>;

export interface RoundOpen {
  t: 'round:open';
  /** The round, or under buffered rounds (fedbuff) the buffer: claims' grants name it. */
  roundId: number;
  numParams: number;
  updateBound: UpdateBoundConfig;
  /** The master's norm bound for the round (its adaptive history's): every edge screens with it. */
  normBound: number;
  /**
   * Buffered asynchronous rounds (fedbuff): updates answer whatever model their client was sent,
   * the master weighs each by its staleness, and the edge folds each into the buffer its grant
   * names (edgeEpochs.ts).
   */
  buffered?: true;
}

/**
 * The secure group the master formed at this edge for a round (secureGroups.ts): the edge runs
 * Bonawitz et al.'s protocol with these clients and sends their unmasked sum as its partial.
 */
export interface SecureGroupOpen {
  t: 'secure:group';
  roundId: number;
  /** Salts the group's keys and names its round:start (unique to the round's attempt and edge). */
  session: string;
  /** The group's clients in member-id order, with the sample counts they joined with. */
  members: { clientId: string; numSamples: number }[];
  thresholdFraction: number;
  scale: number;
  phaseTimeoutMs: number;
  numParams: number;
}

export type DownMessage =
  /** `grant`: a buffered round's admission of a claim (where and how much to fold it). */
  | { t: 'ack'; link: string; req: number; response: unknown; grant?: Grant }
  | { t: 'emit'; link: string; event: string; payload: unknown }
  | { t: 'broadcast'; event: string; payload: unknown }
  /** A payload several of the edge's clients get (a round's start, with the global weights): sent once. */
  | { t: 'share'; id: number; payload: unknown }
  | { t: 'emit-shared'; link: string; event: string; id: number }
  /**
   * Close a connection at the edge: `rejoin` (its edge was dropped by the master, not its client)
   * closes only the transport, so the client reconnects and joins again; otherwise the socket is
   * disconnected as a server-side cut-off, after which a socket.io client does not reconnect.
   */
  | { t: 'cut'; link: string; rejoin?: true }
  /**
   * The master greets each edge it hears anew; the entry's incarnation is the master's, so an
   * edge holding clients of an earlier master (restarted, `--resume`) has them join again.
   */
  | { t: 'welcome' }
  | RoundOpen
  | SecureGroupOpen
  | { t: 'round:close'; roundId: number };
