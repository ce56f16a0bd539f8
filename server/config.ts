/**
 * Everything a coordinator run can be told, with defaults. The CLI, a config
 * file and tests all go through `coordinatorConfigSchema`, so a bad value fails
 * in one place with a message naming the field.
 */
import { z } from 'zod';
import type { RoundConfig } from '../shared/protocol/index.js';
import { SECAGG_MAX_CLIENTS, roundConfigSchema } from '../shared/protocol/index.js';
import { aggregatorSpecSchema, serverOptimizerSchema } from '../shared/aggregation/index.js';
import { findStrategy, strategyNames } from './strategies/registry.js';
import { DEFAULT_FEDBUFF, fedBuffSchema } from './strategies/staleness.js';
import { distillationTerm } from '../shared/losses/index.js';
import {
  DEFAULT_MODEL_GUARD,
  DEFAULT_UPDATE_BOUND,
  modelGuardSchema,
  updateBoundSchema,
} from './robustness/config.js';

/** Local training settings when none are given; flags and files override single fields. */
export const DEFAULT_TRAINING: RoundConfig = {
  epochs: 2,
  batchSize: 32,
  learningRate: 0.002,
  temperature: 4,
  alpha: 0.3,
  optimizer: 'adam',
  updatePrecision: 'float32',
};

/**
 * How a round's knowledge moves: the name of a registered strategy (server/strategies/registry.ts
 * lists them; docs/strategies.md describes each).
 */
export const strategySchema = z.string().superRefine((name, context) => {
  if (!findStrategy(name))
    context.addIssue({
      code: 'custom',
      message: `unknown strategy ${JSON.stringify(name)}; registered: ${strategyNames().join(', ')}`,
    });
});
export type StrategyName = string;

export const secureAggregationSchema = z.strictObject({
  /**
   * t as a fraction of a round's sampled clients, t = max(2, ⌈fraction·n⌉): the fewest that must
   * stay to the end, and the fewest that could together unmask one client. Above 1/2 as Bonawitz
   * et al. advise. Defaults to 2/3.
   */
  threshold: z
    .number()
    .gt(0.5)
    .max(1)
    .default(2 / 3),
  /**
   * Fixed-point scale of the masked values (resolution 1/scale); each client's weighted delta
   * must stay within ±(2³¹ − 1)/(n·scale). Defaults to 2²⁰ (±2048/n, resolution ≈ 9.5e-7).
   */
  scale: z
    .number()
    .positive()
    .max(2 ** 30)
    .default(2 ** 20),
  /** How long the key, share and unmask steps wait for a quiet client. Defaults to 10 s. */
  phaseTimeoutMs: z.number().int().min(1).default(10_000),
  /**
   * A client is excluded from the run (cut off, its joins refused) once this many different
   * clients have complained that its key shares do not open. Complaints cannot be verified, so
   * one liar alone must not be able to exclude anyone: keep it at 2 or more. Defaults to 2.
   */
  excludeAfterComplaints: z.number().int().min(1).default(2),
  /**
   * Over edges (`serve --redis`), k: the fewest sampled clients a group (an edge's clients, or
   * the master's own) must hold to run the protocol; a smaller group sits the round out, since
   * the master learns each group's sum. At least 2: one client's "sum" is its update. Unused by
   * a single coordinator, whose one group needs 2. Defaults to 3.
   */
  minGroupSize: z.number().int().min(2).max(SECAGG_MAX_CLIENTS).default(3),
});
export type SecureAggregationConfig = z.output<typeof secureAggregationSchema>;

/**
 * Why secure aggregation cannot run with this strategy and aggregator, or undefined when it can:
 * the coordinator must never need one client's update on its own.
 */
export function secureAggregationConflict(
  strategy: StrategyName,
  aggregator: string,
): string | undefined {
  if (findStrategy(strategy)?.capabilities.secureAggregation !== true) {
    const able = strategyNames().filter((n) => findStrategy(n)?.capabilities.secureAggregation);
    return `secure aggregation needs a strategy that averages weights blindly (${able.join(' or ')}), not ${strategy}`;
  }
  if (aggregator !== 'fedavg')
    return `secure aggregation sums updates blindly, so the ${aggregator} aggregator cannot see them; use fedavg`;
  return undefined;
}

/**
 * What an asynchronous strategy (fedbuff) cannot run with, or undefined: a robust aggregator
 * needs a round's updates together, privacy accounting counts one update per client and round,
 * and secure aggregation masks a blind sum.
 */
export function asynchronousConflict(config: {
  strategy: string;
  aggregator: { kind: string };
  privacy?: unknown;
}): { path: string; message: string } | undefined {
  if (config.aggregator.kind !== 'fedavg')
    return {
      path: 'aggregator',
      message: `strategy ${config.strategy} weights each update by its staleness as it arrives; the ${config.aggregator.kind} aggregator cannot apply (use fedavg)`,
    };
  if (config.privacy !== undefined)
    return {
      path: 'privacy',
      message: `strategy ${config.strategy} takes several updates per client per round; differential privacy's accounting does not cover it`,
    };
  return undefined;
}

export const coordinatorConfigSchema = z
  .strictObject({
    /** Host to listen on. Defaults to 127.0.0.1 (loopback only). */
    host: z.string().default('127.0.0.1'),
    /** Port; 0 picks a free one. Defaults to 8080. */
    port: z.number().int().min(0).max(65_535).default(8080),
    /** Data directory: SQLite, checkpoints, cached teacher and artifacts. Defaults to .fedistill. */
    dataDir: z.string().default('.fedistill'),
    /** Federated rounds to aggregate before the run ends. Defaults to 10. */
    rounds: z.number().int().min(1).max(100_000).default(10),
    /** Fraction of connected clients sampled each round. Defaults to 1. */
    fraction: z.number().gt(0).max(1).default(1),
    /** Fewest clients a round is started with. Defaults to 2. */
    minClients: z.number().int().min(1).default(2),
    /** How long to wait for `minClients` before starting with whoever is connected (≥ 1). Defaults to 60 s. */
    waitForClientsMs: z.number().int().min(0).default(60_000),
    /** Time a sampled client has to answer. Defaults to 120 s. */
    roundTimeoutMs: z.number().int().min(100).default(120_000),
    /**
     * How long a sampled client that disconnected without answering may take to rejoin before
     * the round stops waiting for it: once every sampled client has answered or been gone this
     * long, the round closes before its deadline (a connected client that stays silent is still
     * waited for until the deadline). Defaults to 20 s.
     */
    dropGraceMs: z.number().int().min(0).default(20_000),
    /** Share of sampled clients whose updates must arrive for the round to count. Defaults to 0.5. */
    quorum: z.number().gt(0).max(1).default(0.5),
    /** Consecutive rounds below quorum after which the run stops. Defaults to 5. */
    maxFailedRounds: z.number().int().min(1).default(5),
    /** Seed for sampling and the student's initial weights. Defaults to 1. */
    seed: z.number().int().default(1),
    /** Join tokens; when empty anyone may join. Defaults to none. */
    tokens: z.array(z.string().min(1)).default([]),
    /**
     * Per-client tokens: JSON (`{ "name": "token" }`) or one `name:token` per line. Each token
     * admits one named client and binds its client id (server/auth.ts). Defaults to none.
     */
    tokensFile: z.string().min(1).optional(),
    /** Bearer token for /api/admin/* (stop the run, export the student); unset: those are off. Defaults to none. */
    adminToken: z.string().min(16).max(500).optional(),
    /**
     * Serve Prometheus `/metrics` on this separate port (0: any free one), without a token, and
     * not on the coordinator's port. Unset: `/metrics` is on the coordinator's port behind the
     * admin token (and off without one). Defaults to unset.
     */
    metricsPort: z.number().int().min(0).max(65_535).optional(),
    /** Address of the metrics listener (`metricsPort`). Defaults to 127.0.0.1 (loopback only). */
    metricsHost: z.string().min(1).default('127.0.0.1'),
    /** Origins allowed by CORS for browser clients. Defaults to none (same origin only). */
    corsOrigins: z.array(z.string()).default([]),
    /** Refused messages a connection may send within `refusalWindowMs` before it is disconnected. Defaults to 20. */
    maxRefusals: z.number().int().min(0).default(20),
    /** Defaults to 60 s. */
    refusalWindowMs: z.number().int().min(1).default(60_000),
    /**
     * After a connection is cut off (`maxRefusals`), its source — the per-client token's name,
     * else its address (IPv6 by /64) — is refused at the handshake (`rate-limited`) for this long,
     * doubling with each further cut-off (server/penaltyBox.ts). 0 turns this off. Defaults to 10 s.
     */
    cutOffCooldownMs: z.number().int().min(0).default(10_000),
    /**
     * Longest such cool-down; a source whose cool-down has been over this long starts again from
     * `cutOffCooldownMs`. Defaults to 10 min.
     */
    maxCutOffCooldownMs: z.number().int().min(1).default(600_000),
    /** Most sources under a cool-down remembered at once (memory bound). Defaults to 10,000. */
    maxPenalizedSources: z.number().int().min(1).default(10_000),
    /**
     * The coordinator sits behind a reverse proxy: a connection's address is the last
     * `X-Forwarded-For` entry, not the proxy's. Without it, every client behind the proxy shares
     * one address and so one cut-off cool-down. Defaults to false.
     */
    trustProxy: z.boolean().default(false),
    /**
     * The bound every weight delta passes before it is aggregated (server/robustness/config.ts):
     * a per-coordinate bound (refused past it) and an L2 norm bound adaptive to past rounds
     * (clipped or refused past it). Defaults to on: clip at 5× the recent median norm, within
     * [1, 100], coordinates within ±10.
     */
    updateBound: updateBoundSchema.default(DEFAULT_UPDATE_BOUND),
    /**
     * Checks of each new global student before it replaces the old one: weights finite and
     * within `maxWeight` (defaults to 1000); with `maxAccuracyDrop`, a rollback when test
     * accuracy collapses (defaults to off).
     */
    modelGuard: modelGuardSchema.default(DEFAULT_MODEL_GUARD),
    /**
     * A connection that has not joined within this long is closed (counted in
     * /api/status as `unjoinedClosed`), so idle sockets cannot pile up. Defaults to 15 s.
     */
    joinTimeoutMs: z.number().int().min(100).max(3_600_000).default(15_000),
    /** Largest socket.io message accepted, in bytes. Defaults to 64 MiB. */
    maxMessageBytes: z
      .number()
      .int()
      .min(1024)
      .default(64 * 1024 * 1024),
    /** Local training settings sent to clients each round. */
    training: roundConfigSchema.default(DEFAULT_TRAINING),
    /**
     * Continue the data directory's last run if it did not complete (same teacher and student):
     * its completed rounds stand, the student restarts from the last checkpoint. Defaults to false.
     */
    resume: z.boolean().default(false),
    /**
     * Client-side differential privacy for weight updates: each client clips its delta to
     * `clipNorm` and adds Gaussian noise of std `noiseMultiplier·clipNorm`; the coordinator reports
     * the ε spent at `delta` (δ) after every round. Defaults to off.
     */
    privacy: z
      .strictObject({
        clipNorm: z.number().positive(),
        noiseMultiplier: z.number().min(0),
        /** δ of the reported (ε, δ). Defaults to 1e-5. */
        delta: z.number().gt(0).lt(1).default(1e-5),
      })
      .optional(),
    /**
     * Secure aggregation (Bonawitz et al. 2017): clients mask their deltas so the coordinator
     * learns only their sum. Needs a strategy that averages weights without looking at each
     * update (fedkd, fedavg) and the fedavg aggregator. Defaults to off.
     */
    secureAggregation: secureAggregationSchema.optional(),
    /** Defaults to fedkd. */
    strategy: strategySchema.default('fedkd'),
    /** How updates are combined. Defaults to sample-weighted FedAvg (streaming). */
    aggregator: aggregatorSpecSchema.default({ kind: 'fedavg' }),
    /** Defaults to none (global += aggregated delta). */
    serverOptimizer: serverOptimizerSchema.default({ kind: 'none' }),
    /** fedmd / dsfl: logit exchange settings. */
    logitExchange: z
      .strictObject({
        /** Proxy samples clients predict on each round. Defaults to 500. */
        samples: z.number().int().min(1).default(500),
        /** Weight of the consensus against the teacher's soft labels in the clients' targets. Defaults to 0.5. */
        consensusWeight: z.number().min(0).max(1).default(0.5),
        /** dsfl: temperature of the entropy-reduction sharpening (< 1 sharpens). Defaults to 0.1. */
        sharpenTemperature: z.number().positive().default(0.1),
      })
      .default({ samples: 500, consensusWeight: 0.5, sharpenTemperature: 0.1 }),
    /** feddf: server-side ensemble distillation after averaging. */
    ensembleDistillation: z
      .strictObject({
        /** Passes over the proxy set. Defaults to 1. */
        epochs: z.number().int().min(1).default(1),
        /** Defaults to 0.001. */
        learningRate: z.number().positive().default(0.001),
        /** Weight of the teacher in the ensemble's targets (clients share the rest). Defaults to 0.5. */
        teacherWeight: z.number().min(0).max(1).default(0.5),
      })
      .default({ epochs: 1, learningRate: 0.001, teacherWeight: 0.5 }),
    /**
     * fedbuff: asynchronous buffered aggregation — buffer size K, the staleness weighting s(τ),
     * the largest staleness accepted, the server learning rate (docs/strategies.md).
     */
    fedbuff: fedBuffSchema.default(DEFAULT_FEDBUFF),
    /** The teacher's features on the proxy set, for the feature and relation distillation terms. */
    teacherFeatures: z
      .strictObject({
        /**
         * The teacher layer (tfjs) or output tensor (ONNX) whose activations the hint, RKD and
         * PKT terms read; checked before the first round. Defaults to the teacher's first
         * feature layer (the default teacher's penultimate layer).
         */
        layer: z.string().min(1).max(200).optional(),
        /** Precision the features travel in. Defaults to float16. */
        precision: z.enum(['float32', 'float16', 'uint8']).default('float16'),
      })
      .default({ precision: 'float16' }),
    /** Soft labels kept per proxy sample; 0 keeps all classes. Defaults to 0. */
    softLabelTopK: z.number().int().min(0).default(0),
    /** Precision soft labels travel in. Defaults to float16. */
    softLabelPrecision: z.enum(['float32', 'float16', 'uint8']).default('float16'),
    /**
     * How long the HTTP API and the dashboard stay up after the run has ended, so its final state,
     * summary and student download can be seen: milliseconds, or `'forever'` (until the process
     * is stopped with Ctrl-C or SIGTERM). Defaults to 0 (`fedistill demo` on a terminal: 60,000).
     */
    lingerAfterRunMs: z.union([z.number().int().min(0), z.literal('forever')]).default(0),
    /**
     * Folders the dashboard's run history reads `fedistill simulate` results from: each folder is
     * one simulate run directory (holding result.json) or holds several. Missing ones are skipped.
     * Defaults to ['runs'] (simulate's default output folder, relative to the working directory).
     */
    simulationResultsDirs: z.array(z.string().min(1)).max(100).default(['runs']),
  })
  .superRefine((config, context) => {
    const strategy = findStrategy(config.strategy);
    if (strategy && !strategy.capabilities.usesTeacher)
      (config.training.distillation ?? []).forEach((term, index) => {
        if (distillationTerm(term.name).needs.includes('teacherFeatures'))
          context.addIssue({
            code: 'custom',
            path: ['training', 'distillation', index, 'name'],
            message: `the ${term.name} term distils from the teacher, and strategy ${config.strategy} has none (use ${strategyNames()
              .filter((name) => findStrategy(name)?.capabilities.usesTeacher)
              .join(', ')}, or the self term)`,
          });
      });
    if (strategy?.capabilities.asynchronous) {
      const conflict = asynchronousConflict(config);
      if (conflict)
        context.addIssue({ code: 'custom', path: [conflict.path], message: conflict.message });
    }
    if (!config.secureAggregation) return;
    const conflict = secureAggregationConflict(config.strategy, config.aggregator.kind);
    if (conflict)
      context.addIssue({ code: 'custom', path: ['secureAggregation'], message: conflict });
    if (config.minClients < 2)
      context.addIssue({
        code: 'custom',
        path: ['minClients'],
        message: 'secure aggregation needs at least 2 clients per round',
      });
  });

export type CoordinatorConfigInput = z.input<typeof coordinatorConfigSchema>;
export type CoordinatorConfig = z.output<typeof coordinatorConfigSchema>;

export function parseCoordinatorConfig(input: unknown): CoordinatorConfig {
  const result = coordinatorConfigSchema.safeParse(input);
  if (!result.success) {
    throw new Error(`invalid coordinator config:\n${z.prettifyError(result.error)}`);
  }
  return result.data;
}

/**
 * The config as it may be written down with a run: secrets replaced by whether
 * they were set. Every secret setting is listed here, in one place.
 */
export function recordableConfig(config: CoordinatorConfig): Record<string, unknown> {
  return {
    ...config,
    tokens: config.tokens.length > 0 ? '[set]' : '[none]',
    adminToken: config.adminToken !== undefined ? '[set]' : '[none]',
  };
}
