/**
 * Schemas of the secure-aggregation messages (Bonawitz et al. 2017, as
 * shared/secureAggregation implements it) as they travel in a round. Both
 * directions use one event, `secagg`, whose payload names its `step`:
 *
 *   client → coordinator (acked): keys → shares → (the masked input rides on `update`) → reveal
 *                                 (or, when shares it received do not open: complain)
 *   coordinator → client:         roster → inbox → unmask
 *
 * Clients are known in a round by a small integer (`RoundStart.secureAggregation.id`);
 * the coordinator fills in the sender's id itself and never takes it from a payload.
 * Every byte string has its exact length checked here, before any crypto runs.
 */
import { z } from 'zod';
import {
  FIELD_BYTES,
  IV_BYTES,
  PUBLIC_KEY_BYTES,
  SHARE_CIPHERTEXT_BYTES,
} from '../secureAggregation/index.js';

/** Most clients one secure round may hold: bounds every list below. */
export const SECAGG_MAX_CLIENTS = 1000;

const roundId = z.number().int().min(1);
/**
 * The `session` of the round:start the step belongs to: a coordinator restarted on its data
 * directory re-runs a round under the same id but a new session, and a step of the old attempt
 * (say, sent while the connection was down) must not count in the new one.
 */
const session = z.string().min(1).max(300);
const memberId = z.number().int().min(1).max(SECAGG_MAX_CLIENTS);

function bytesOf(length: number) {
  return z.custom<Uint8Array>(
    (value) => value instanceof Uint8Array && value.byteLength === length,
    `expected ${length} bytes`,
  );
}

/** What a client needs to take part, sent to it (alone) in its round:start. */
export const secureRoundSchema = z.strictObject({
  /** Salts every key and authenticates every share: `${runId}/${roundId}@${deadline}`. */
  session: z.string().min(1).max(300),
  /** This client's id in the round (1 … clients). */
  id: memberId,
  /** t: shares that rebuild a secret, and the fewest clients that may remain at each step. */
  threshold: z.number().int().min(2).max(SECAGG_MAX_CLIENTS),
  /** Clients sampled in the round: bounds each input so that their sum cannot wrap. */
  clients: z.number().int().min(2).max(SECAGG_MAX_CLIENTS),
  /** Fixed-point scale of the input (resolution 1/scale). */
  scale: z.number().finite().positive(),
  /**
   * This client's share of the round's samples, nᵤ / Σ n over the sampled clients: the client
   * masks weight·delta, so the unmasked sum is the numerator of FedAvg.
   */
  weight: z.number().finite().positive().max(1),
});
export type SecureRound = z.infer<typeof secureRoundSchema>;

const keys = {
  channelKey: bytesOf(PUBLIC_KEY_BYTES),
  maskKey: bytesOf(PUBLIC_KEY_BYTES),
};
const sealed = { iv: bytesOf(IV_BYTES), ciphertext: bytesOf(SHARE_CIPHERTEXT_BYTES) };
const revealed = z
  .array(z.strictObject({ owner: memberId, share: bytesOf(FIELD_BYTES) }))
  .max(SECAGG_MAX_CLIENTS);

export const secAggUpSchema = z.discriminatedUnion('step', [
  /** Step 0: the client's two public keys for this round. */
  z.strictObject({ step: z.literal('keys'), roundId, session, ...keys }),
  /** Step 1: its Shamir shares, each sealed for one other member of the roster. */
  z.strictObject({
    step: z.literal('shares'),
    roundId,
    session,
    shares: z.array(z.strictObject({ to: memberId, ...sealed })).max(SECAGG_MAX_CLIENTS),
  }),
  /**
   * Instead of step 2, when shares in the inbox did not open: the members that sealed them. The
   * sender cannot mask this round; the coordinator stops waiting for it and, once enough
   * different members name the same one, excludes that one from the run.
   */
  z.strictObject({
    step: z.literal('complain'),
    roundId,
    session,
    about: z.array(memberId).min(1).max(SECAGG_MAX_CLIENTS),
  }),
  /** Step 3: shares of the survivors' self-mask seeds and of the dropped clients' mask keys. */
  z.strictObject({
    step: z.literal('reveal'),
    roundId,
    session,
    selfMaskShares: revealed,
    maskKeyShares: revealed,
  }),
]);
export type SecAggUp = z.infer<typeof secAggUpSchema>;

export const secAggDownSchema = z.discriminatedUnion('step', [
  /** After step 0: every member's keys (this client's included). */
  z.strictObject({
    step: z.literal('roster'),
    roundId,
    roster: z.array(z.strictObject({ id: memberId, ...keys })).max(SECAGG_MAX_CLIENTS),
  }),
  /** After step 1: the shares other members sealed for this client. */
  z.strictObject({
    step: z.literal('inbox'),
    roundId,
    shares: z
      .array(z.strictObject({ from: memberId, to: memberId, ...sealed }))
      .max(SECAGG_MAX_CLIENTS),
  }),
  /** After step 2: the members whose masked input arrived. */
  z.strictObject({
    step: z.literal('unmask'),
    roundId,
    survivors: z.array(memberId).max(SECAGG_MAX_CLIENTS),
  }),
]);
export type SecAggDown = z.infer<typeof secAggDownSchema>;

/** The masked input, mod 2³², on the round's `update` in place of a delta. */
export const maskedInputSchema = z.custom<Uint32Array>(
  (value) => value instanceof Uint32Array,
  'expected a Uint32Array',
);
