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
 * Client events an edge forwards; `update` arrives without its delta (the edge folds it). Not
 * `secagg`: secure aggregation cannot run over edges (edgesConflict), so its steps are not relayed.
 */
export const FORWARDED_EVENTS = ['join', 'update', 'abstain'] as const;
export type ForwardedEvent = (typeof FORWARDED_EVENTS)[number];

const id = z.string().min(1).max(200);

export const refusalTallySchema = z.record(
  z.string().max(100),
  z.strictObject({ count: z.number().int().min(0), bytes: z.number().int().min(0) }),
);
export type RefusalTally = z.infer<typeof refusalTallySchema>;

/** One edge's sample-weighted sum of the deltas it accepted in a round. */
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
});
export type PartialMessage = z.infer<typeof partialSchema>;

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
  roundId: number;
  numParams: number;
  updateBound: UpdateBoundConfig;
  /** The master's norm bound for the round (its adaptive history's): every edge screens with it. */
  normBound: number;
}

export type DownMessage =
  | { t: 'ack'; link: string; req: number; response: unknown }
  | { t: 'emit'; link: string; event: string; payload: unknown }
  | { t: 'broadcast'; event: string; payload: unknown }
  /** A payload several of the edge's clients get (a round's start, with the global weights): sent once. */
  | { t: 'share'; id: number; payload: unknown }
  | { t: 'emit-shared'; link: string; event: string; id: number }
  | { t: 'cut'; link: string }
  /**
   * The master greets each edge it hears anew; the entry's incarnation is the master's, so an
   * edge holding clients of an earlier master (restarted, `--resume`) has them join again.
   */
  | { t: 'welcome' }
  | RoundOpen
  | { t: 'round:close'; roundId: number };
