/**
 * Runtime schemas for every payload that crosses the network. Each inbound
 * message is parsed with one of these before any field is read: msgpack gives
 * us typed values, not trusted ones.
 */
import { z } from 'zod';
import type { EncodedWeights } from '../codec/index.js';
import type { FeaturePrecision } from '../features/index.js';
import type { SoftLabelSet } from '../softLabels/index.js';
import { FEATURE_PRECISIONS, FEATURE_SET_FORMAT } from '../features/index.js';
import { MAX_DISTILLATION_TERMS, distillationSchema } from '../losses/index.js';
import { modelSpecSchema } from '../models/index.js';
import { maskedInputSchema, secureRoundSchema } from './secureAggregation.js';

const finite = z.number().finite();
const count = z.number().int().nonnegative();
const shortText = z.string().min(1).max(200);

export const errorCodeSchema = z.enum([
  'protocol-version',
  'unauthorized',
  /** Handshake only: this source was cut off for refused messages; `data.retryAfterMs` says when to retry. */
  'rate-limited',
  'invalid-payload',
  'not-joined',
  'wrong-round',
  'not-sampled',
  'duplicate',
  'stale-model',
  'too-late',
  'rejected-weights',
  'run-ended',
  /** A secure-aggregation message for a step the round is not at (late, early, or repeated). */
  'wrong-phase',
  'internal',
]);
export type ErrorCode = z.infer<typeof errorCodeSchema>;

export const protocolErrorSchema = z.object({
  code: errorCodeSchema,
  message: z.string().max(2000),
});
export type WireError = z.infer<typeof protocolErrorSchema>;

/** What a client puts in socket.io's handshake `auth`. */
export const handshakeAuthSchema = z.object({
  protocolVersion: z.number().int(),
  token: z.string().max(500).optional(),
});
export type HandshakeAuth = z.infer<typeof handshakeAuthSchema>;

export const platformSchema = z.enum(['node', 'browser', 'sim']);

export const joinRequestSchema = z.strictObject({
  /** Set when rejoining after a dropped connection, so the coordinator can resume this client's round. */
  clientId: z.string().min(1).max(100).optional(),
  /** With `clientId`: the `rejoinSecret` that id's first join was given, proving this is that client. */
  rejoinSecret: z.string().min(1).max(200).optional(),
  platform: platformSchema,
  backend: shortText,
  numSamples: count,
  name: z.string().max(100).optional(),
  /**
   * How many of the client's private samples carry each class label (index = class), so the
   * dashboard can show the client's label skew. Optional and informational: the coordinator
   * never uses it for aggregation. At most 10,000 classes.
   */
  labelCounts: z.array(count).max(10_000).optional(),
});
export type JoinRequest = z.infer<typeof joinRequestSchema>;

export const weightPrecisionSchema = z.enum(['float32', 'float16', 'int8']);

/**
 * A flat weight vector (or a delta) in one of the codec's precisions. The
 * schema checks the envelope; `decodeWeights` checks lengths and values.
 */
export const encodedWeightsSchema: z.ZodType<EncodedWeights> = z.strictObject({
  precision: weightPrecisionSchema,
  length: count,
  data: z.union([
    z.instanceof(Float32Array),
    z.instanceof(Uint16Array),
    z.instanceof(Int8Array),
    z.instanceof(Uint8Array),
  ]),
  scale: finite.optional(),
  scales: z.instanceof(Float32Array).optional(),
  segments: z.array(count).max(100_000).optional(),
}) as z.ZodType<EncodedWeights>;

export const roundConfigSchema = z.strictObject({
  epochs: z.number().int().min(1).max(1000),
  batchSize: z.number().int().min(1).max(65_536),
  learningRate: finite.positive(),
  temperature: finite.positive(),
  alpha: finite.min(0).max(1),
  optimizer: z.enum(['sgd', 'momentum', 'adam']),
  /** Precision the client should send its update in. */
  updatePrecision: weightPrecisionSchema,
  /** FedProx μ: weight of μ/2·‖w − w_round‖² in the local loss. Absent or 0: off. */
  proximalMu: finite.min(0).optional(),
  /** Logit exchange: weight of the consensus against the teacher's soft labels. Defaults to 0.5. */
  consensusWeight: finite.min(0).max(1).optional(),
  /**
   * Client-side differential privacy: clip the weight delta to L2 norm `clipNorm`, then add
   * N(0, (noiseMultiplier·clipNorm)²) noise to every coordinate before sending it. Absent: off.
   */
  privacy: z
    .strictObject({ clipNorm: finite.positive(), noiseMultiplier: finite.min(0) })
    .optional(),
  /**
   * The terms of the local loss, each `{ name, weight, ...options }` (see shared/losses
   * registry.ts). Defaults to `[{ name: 'response', weight: 1 }]`: α·CE + (1−α)·T²·KL.
   */
  distillation: distillationSchema.optional(),
});
export type RoundConfig = z.infer<typeof roundConfigSchema>;

export const artifactRefSchema = z.strictObject({
  url: z.string().min(1).max(2000),
  /** Content hash; the artifact's ETag. Clients keep it and fetch again only when it changes. */
  hash: z.string().min(8).max(128),
  bytes: count,
});
export type ArtifactRef = z.infer<typeof artifactRefSchema>;

const int32ArraySchema = z.custom<Int32Array>(
  (value) => value instanceof Int32Array,
  'expected an Int32Array',
);

/**
 * A soft-label set as `encodeSoftLabels` writes it (format `fedistill.softlabels/1`);
 * `decodeSoftLabels` checks every field.
 */
export const softLabelSetSchema = z.looseObject({ format: z.literal('fedistill.softlabels/1') });

/** A teacher-feature set as `encodeFeatures` writes it; `decodeFeatures` checks every field. */
export const featureSetSchema = z.looseObject({ format: z.literal(FEATURE_SET_FORMAT) });

/** Proxy samples (indices into the proxy set) with a probability row for each. */
export interface ProxyPredictions {
  indices: Int32Array;
  probs: SoftLabelSet;
}

export const proxyPredictionsSchema = z.strictObject({
  indices: int32ArraySchema,
  probs: softLabelSetSchema,
}) as unknown as z.ZodType<ProxyPredictions>;

export const roundStartSchema = z.strictObject({
  roundId: z.number().int().min(1),
  modelVersion: count,
  /** Unix epoch milliseconds after which an update is refused. */
  deadline: count,
  config: roundConfigSchema,
  /**
   * The global student's full weights. Absent when no weights travel (logit
   * exchange, local training): the client trains its own model on.
   */
  weights: encodedWeightsSchema.optional(),
  /** Logit exchange: send predictions (at the round's temperature) on these proxy samples. */
  predict: z.strictObject({ indices: int32ArraySchema }).optional(),
  /** Logit exchange: the federation's consensus on some proxy samples, to distil from. */
  consensus: proxyPredictionsSchema.optional(),
  /**
   * Set when the round aggregates securely: the client masks its delta and the coordinator
   * learns only the sum (see secureAggregation.ts). Differs per client (its id and weight).
   */
  secureAggregation: secureRoundSchema.optional(),
});
export type RoundStart = z.infer<typeof roundStartSchema>;

export const joinAcceptedSchema = z.strictObject({
  ok: z.literal(true),
  clientId: z.string().min(1).max(100),
  /** Keep it beside `clientId`, secret: a rejoin naming the id must present it. */
  rejoinSecret: z.string().min(16).max(200),
  runId: z.string().min(1).max(100),
  protocolVersion: z.number().int(),
  model: z.strictObject({ spec: modelSpecSchema, numParams: count }),
  /**
   * The run's strategy and whether it lets each client run its own student architecture (no
   * weights travel: fedmd, dsfl, local). Absent from older coordinators.
   */
  strategy: z.strictObject({ name: shortText, heterogeneousStudents: z.boolean() }).optional(),
  proxyInputs: artifactRefSchema,
  softLabels: artifactRefSchema.extend({ temperature: finite.positive() }),
  /**
   * The teacher's features on the proxy set (format `fedistill.features/1`, decoded by
   * `decodeFeatures`), for the feature and relation terms: `width` values per proxy sample from
   * the teacher layer `layer`. Absent when the run configures no such term.
   */
  teacherFeatures: artifactRefSchema
    .extend({
      width: z
        .number()
        .int()
        .min(1)
        .max(1 << 16),
      layer: shortText,
      precision: z.enum(FEATURE_PRECISIONS as [FeaturePrecision, ...FeaturePrecision[]]),
    })
    .optional(),
  /** The open round, when this client is sampled in it and has not answered yet (a rejoin). */
  round: roundStartSchema.optional(),
});
export type JoinAccepted = z.infer<typeof joinAcceptedSchema>;

export const refusalSchema = z.strictObject({ ok: z.literal(false), error: protocolErrorSchema });
export type Refusal = z.infer<typeof refusalSchema>;

export const joinResponseSchema = z.union([joinAcceptedSchema, refusalSchema]);
export type JoinResponse = z.infer<typeof joinResponseSchema>;

export const trainMetricsSchema = z.strictObject({
  loss: finite,
  accuracy: finite.min(0).max(1),
  trainMillis: finite.nonnegative(),
  steps: count,
  /** Accuracy of the client's own model on its own held-out data, when it has some. */
  validationAccuracy: finite.min(0).max(1).optional(),
  /**
   * Each distillation term's mean unweighted value over the last local epoch, by term name, and
   * `ce` (trainLocal's `terms.lastEpoch`), so the coordinator can show every term moving.
   */
  terms: z
    .record(z.string().min(1).max(40), finite)
    .refine((terms) => Object.keys(terms).length <= MAX_DISTILLATION_TERMS + 1, {
      message: `at most ${MAX_DISTILLATION_TERMS + 1} terms`,
    })
    .optional(),
});
export type TrainMetrics = z.infer<typeof trainMetricsSchema>;

export const updateSchema = z.strictObject({
  roundId: z.number().int().min(1),
  modelVersion: count,
  numSamples: z.number().int().min(1).max(1e9),
  /** The client's weights minus the round's global weights (when the round sent weights). */
  delta: encodedWeightsSchema.optional(),
  /** The client's probabilities on the proxy samples the round asked for (logit exchange). */
  predictions: proxyPredictionsSchema.optional(),
  /** Secure rounds: quantize(weight·delta) plus the client's masks, mod 2³², instead of `delta`. */
  masked: maskedInputSchema.optional(),
  /** With `masked`: the secure round's session its masks were made for (RoundStart.secureAggregation). */
  session: z.string().min(1).max(300).optional(),
  metrics: trainMetricsSchema,
});
export type UpdateMessage = z.infer<typeof updateSchema>;

/**
 * A joined client that will take no part in the run says so, instead of failing every round in
 * silence: the coordinator counts it as answered without an update in the open round (which
 * then need not wait for it), records why, and samples it no more. The client closes its
 * connection after the ack.
 */
export const abstainSchema = z.strictObject({
  /**
   * `data-mismatch`: its private data do not fit the student (feature size or classes);
   * `unsupported`: it cannot train this run's student at all (e.g. its backend lacks an op).
   */
  reason: z.enum(['data-mismatch', 'unsupported']),
  /** What a person reading the coordinator's record needs to fix it. */
  message: z.string().min(1).max(500),
});
export type AbstainMessage = z.infer<typeof abstainSchema>;

export const abstainResponseSchema = z.union([
  z.strictObject({ ok: z.literal(true) }),
  refusalSchema,
]);
export type AbstainResponse = z.infer<typeof abstainResponseSchema>;

export const updateAcceptedSchema = z.strictObject({
  ok: z.literal(true),
  roundId: z.number().int(),
});
export const updateResponseSchema = z.union([updateAcceptedSchema, refusalSchema]);
export type UpdateResponse = z.infer<typeof updateResponseSchema>;

export const roundEndSchema = z.strictObject({
  roundId: z.number().int().min(1),
  status: z.enum(['aggregated', 'failed']),
  participants: count,
  studentAccuracy: finite.min(0).max(1).optional(),
});
export type RoundEnd = z.infer<typeof roundEndSchema>;

export const runEndSchema = z.strictObject({
  runId: z.string(),
  reason: z.enum(['completed', 'stopped']),
});
export type RunEnd = z.infer<typeof runEndSchema>;
