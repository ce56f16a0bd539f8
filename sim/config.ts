/**
 * What a simulation can be told (`fedistill simulate --config sim.yaml`), each
 * field with its default; docs/simulation.md documents the same list. Every
 * config goes through `simConfigSchema`, so a bad value fails before anything
 * trains, with a message naming the field.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { ModelSpec } from '../shared/models/index.js';
import { SPEC_SHORTHAND, modelSpecSchema, specFromShorthand } from '../shared/models/index.js';
import { aggregatorSpecSchema, serverOptimizerSchema } from '../shared/aggregation/index.js';
import {
  coordinatorConfigSchema,
  asynchronousConflict,
  secureAggregationConflict,
  secureAggregationSchema,
} from '../server/config.js';
import { findStrategy, strategyNames } from '../server/strategies/index.js';
import { distillationSchema } from '../shared/losses/index.js';

/**
 * A registered coordinator strategy (server/strategies/registry.ts), or `central`, which only a
 * simulation can run (all data in one place).
 */
export const simStrategySchema = z.string().superRefine((name, context) => {
  if (name !== 'central' && !findStrategy(name))
    context.addIssue({
      code: 'custom',
      message: `unknown strategy ${JSON.stringify(name)}; registered: ${[...strategyNames(), 'central'].join(', ')}`,
    });
});
export type SimStrategy = string;

/** Strategies where no weights travel, so every client may run its own architecture. */
function allowsClientStudents(strategy: SimStrategy): boolean {
  return findStrategy(strategy)?.capabilities.heterogeneousStudents === true;
}

/** `mlp:H1,H2,…`, `cnn`, or a full model spec object (shared/models). */
export const modelSpecInputSchema = z.union([
  z
    .string()
    .regex(SPEC_SHORTHAND, 'expected mlp:H1,H2,… (hidden widths), cnn, or a model spec object'),
  modelSpecSchema,
]);
export type ModelSpecInput = z.infer<typeof modelSpecInputSchema>;

const fraction = z.number().min(0).max(1);

export const partitionSchema = z.discriminatedUnion('kind', [
  /** Equal random parts. */
  z.strictObject({ kind: z.literal('iid') }),
  z.strictObject({
    kind: z.literal('dirichlet'),
    /** Concentration: 0.1 very skewed, 100 near IID. Defaults to 0.5. */
    alpha: z.number().positive().finite().default(0.5),
    /** Smallest client accepted (the draw is repeated otherwise). Defaults to 10. */
    minPerClient: z.number().int().min(1).default(10),
  }),
  z.strictObject({
    kind: z.literal('shards'),
    /** Label-sorted shards per client (McMahan et al. 2017). Defaults to 2. */
    perClient: z.number().int().min(1).default(2),
  }),
]);
export type PartitionSpec = z.infer<typeof partitionSchema>;

export const simConfigSchema = z
  .strictObject({
    /** Name of the experiment: run directories are `<outDir>/<name>-<time>`. Defaults to sim. */
    name: z
      .string()
      .regex(/^[\w.-]{1,80}$/, 'letters, digits, _ . - only')
      .default('sim'),
    /** Where run directories go. Defaults to runs. */
    outDir: z.string().min(1).default('runs'),
    /** Teacher and artifacts cache, shared between simulations. Defaults to .fedistill/sim-cache. */
    cacheDir: z.string().min(1).default('.fedistill/sim-cache'),
    /**
     * Run seeds: each strategy runs once per seed (student init, client sampling, partition).
     * Defaults to [1].
     */
    seeds: z.array(z.number().int().min(0).max(1_000_000)).min(1).max(100).default([1]),
    data: z
      .strictObject({
        /**
         * Where the samples come from: `mnist` (the 10,000 real digits of the `mnist` package),
         * a named dataset (`fashion-mnist:train`, from `apt-get install dataset-fashion-mnist`)
         * or a data folder (`path/to/dir`, `dir:split`); docs/data.md. Defaults to mnist.
         */
        source: z.string().min(1).default('mnist'),
        /**
         * A separate source for the test split (e.g. `fashion-mnist:test`): the test share is
         * drawn from it instead of from `source`. Defaults to none (every part from `source`).
         */
        testSource: z.string().min(1).optional(),
        /** Samples drawn from `source` in all (a seeded subsample; at most what it holds). Defaults to 10,000. */
        total: z.number().int().min(100).max(10_000_000).default(10_000),
        /** Shares of the samples for the teacher, the public proxy set, the clients and the test split. Defaults to 0.4 / 0.2 / 0.2 / 0.2. */
        split: z
          .strictObject({
            teacher: fraction.default(0.4),
            proxy: fraction.default(0.2),
            clients: fraction.default(0.2),
            test: fraction.default(0.2),
          })
          .default({ teacher: 0.4, proxy: 0.2, clients: 0.2, test: 0.2 })
          .refine((s) => s.teacher + s.proxy + s.clients + s.test <= 1 + 1e-9, {
            message: 'shares must sum to at most 1',
          })
          .refine((s) => s.proxy > 0 && s.clients > 0 && s.test > 0 && s.teacher > 0, {
            message: 'every share must be > 0',
          }),
        /** Seed of the subsample and the split (the same for every run seed, so the teacher is trained once). Defaults to 42. */
        seed: z.number().int().min(0).default(42),
        /** How image-folder sources (PNG/JPEG in class folders) are read. Defaults to auto channels. */
        images: z
          .strictObject({
            /** 1 (greyscale), 3 (RGB) or auto (1 when every image is grey). Defaults to auto. */
            channels: z.union([z.literal('auto'), z.literal(1), z.literal(3)]).default('auto'),
          })
          .optional(),
        /** How CSV sources are read. Defaults to the label in column 0, no scaling, flat rows. */
        csv: z
          .strictObject({
            /** Label column: index (negative from the end) or header name. Defaults to 0. */
            labelColumn: z.union([z.number().int(), z.string().min(1)]).default(0),
            /** Features are divided by this (255 for pixels). Defaults to 1. */
            normalize: z.number().positive().finite().default(1),
            /** Shape of one row's features, e.g. [28, 28, 1] for a cnn. Defaults to flat. */
            shape: z.array(z.number().int().min(1)).min(1).max(3).optional(),
          })
          .optional(),
      })
      .default({
        source: 'mnist',
        total: 10_000,
        split: { teacher: 0.4, proxy: 0.2, clients: 0.2, test: 0.2 },
        seed: 42,
      }),
    /** Virtual clients. Defaults to 10. */
    clients: z.number().int().min(1).max(10_000).default(10),
    /** How the client pool is dealt out. Defaults to Dirichlet α = 0.5. */
    partition: partitionSchema.default({ kind: 'dirichlet', alpha: 0.5, minPerClient: 10 }),
    participation: z
      .strictObject({
        /** Share of clients sampled each round. Defaults to 1. */
        fraction: z.number().gt(0).max(1).default(1),
        /** Fewest clients sampled in a round. Defaults to 2 (capped at `clients`). */
        minClients: z.number().int().min(1).default(2),
      })
      .default({ fraction: 1, minClients: 2 }),
    /** Federated rounds. Defaults to 10. */
    rounds: z.number().int().min(1).max(10_000).default(10),
    training: z
      .strictObject({
        /** Local epochs per round. Defaults to 1. */
        epochs: z.number().int().min(1).max(1000).default(1),
        /** Defaults to 32. */
        batchSize: z.number().int().min(1).max(65_536).default(32),
        /** Defaults to 0.002. */
        learningRate: z.number().positive().finite().default(0.002),
        /** Distillation temperature T. Defaults to 4. */
        temperature: z.number().positive().finite().default(4),
        /** Weight of the hard-label loss, 0..1 (fedavg forces 1). Defaults to 0.3. */
        alpha: z.number().min(0).max(1).default(0.3),
        /** Defaults to adam. */
        optimizer: z.enum(['sgd', 'momentum', 'adam']).default('adam'),
        /** Precision of weight updates. Defaults to float32. */
        updatePrecision: z.enum(['float32', 'float16', 'int8']).default('float32'),
        /** FedProx μ (0 = off). Defaults to 0. */
        proximalMu: z.number().min(0).finite().default(0),
        /**
         * The terms of the clients' local loss, each `{ name, weight, ...options }` (response,
         * hint, rkd-distance, rkd-angle, pkt, self; docs/strategies.md). Defaults to response
         * alone (α·CE + (1−α)·T²·KL).
         */
        distillation: distillationSchema.optional(),
      })
      .default({
        epochs: 1,
        batchSize: 32,
        learningRate: 0.002,
        temperature: 4,
        alpha: 0.3,
        optimizer: 'adam',
        updatePrecision: 'float32',
        proximalMu: 0,
      }),
    teacher: z
      .strictObject({
        /**
         * A trained teacher to load instead of training one, as `fedistill serve --teacher`: an
         * `.onnx` file (run by ONNX Runtime, e.g. a PyTorch export) or a tfjs `model.json`. With
         * it, `spec`, `epochs`, `batchSize` and `learningRate` are unused and the teacher share of
         * the split only sets the other parts apart. Defaults to none (train `spec`).
         */
        file: z.string().min(1).optional(),
        /** What the file's model emits (serve's --teacher-outputs). Defaults to auto (decided on the first batch). */
        outputs: z.enum(['auto', 'logits', 'probabilities']).default('auto'),
        /** ONNX Runtime execution provider of an .onnx file (--teacher-provider). Defaults to auto (CUDA when installed, else CPU). */
        provider: z.enum(['auto', 'cuda', 'cpu']).default('auto'),
        /** Layout of an .onnx file's image input (--teacher-input-layout): nchw transposes the data's channels-last rows. Defaults to nchw. */
        inputLayout: z.enum(['nchw', 'nhwc']).default('nchw'),
        /** What computes a tfjs layers teacher's soft labels and features, the default one included (--teacher-runtime). Defaults to auto (ONNX Runtime when the model converts and matches tfjs). */
        runtime: z.enum(['auto', 'onnx', 'wasm']).default('auto'),
        /** Defaults to mlp:1200,1200 (Hinton et al. 2015). */
        spec: modelSpecInputSchema.default('mlp:1200,1200'),
        /** Defaults to 8. */
        epochs: z.number().int().min(1).max(1000).default(8),
        /** Defaults to 64. */
        batchSize: z.number().int().min(1).default(64),
        /** Defaults to 0.001. */
        learningRate: z.number().positive().finite().default(0.001),
      })
      .default({
        outputs: 'auto',
        provider: 'auto',
        inputLayout: 'nchw',
        runtime: 'auto',
        spec: 'mlp:1200,1200',
        epochs: 8,
        batchSize: 64,
        learningRate: 0.001,
      }),
    /** The student every client trains (and the coordinator aggregates). Defaults to mlp:128. */
    student: modelSpecInputSchema.default('mlp:128'),
    /**
     * fedmd / dsfl only: per-client students, client i gets `clientStudents[i % length]`.
     * Defaults to none (everyone runs `student`).
     */
    clientStudents: z.array(modelSpecInputSchema).min(1).optional(),
    /** One strategy or a list to compare over the same split and teacher. Defaults to fedkd. */
    strategy: z
      .union([simStrategySchema, z.array(simStrategySchema).min(1)])
      .default('fedkd')
      .transform((s) => (Array.isArray(s) ? [...new Set(s)] : [s])),
    /** Defaults to none. */
    serverOptimizer: serverOptimizerSchema.default({ kind: 'none' }),
    /** Defaults to fedavg. */
    aggregator: aggregatorSpecSchema.default({ kind: 'fedavg' }),
    /** Secure aggregation, as in the coordinator config (fedkd and fedavg only). Defaults to off. */
    secureAggregation: secureAggregationSchema.optional(),
    /** fedbuff settings (buffer size, staleness weighting, max staleness, η_g), as in the coordinator config. */
    fedbuff: coordinatorConfigSchema.shape.fedbuff,
    /**
     * The latency model: the first ⌈fraction·clients⌉ clients (by index) are slow, each of their
     * updates reaching the coordinator `updateDelayMs` after it is trained. Synchronous
     * strategies wait for them every round; fedbuff aggregates without them. Defaults to none.
     */
    slowClients: z
      .strictObject({
        /** Share of clients that are slow. Defaults to 0. */
        fraction: z.number().min(0).max(1).default(0),
        /** How late each of their updates arrives, in ms. Defaults to 0. */
        updateDelayMs: z.number().int().min(0).max(3_600_000).default(0),
      })
      .default({ fraction: 0, updateDelayMs: 0 }),
    /** fedmd / dsfl settings, as in the coordinator config. */
    logitExchange: coordinatorConfigSchema.shape.logitExchange,
    /** feddf settings, as in the coordinator config. */
    ensembleDistillation: coordinatorConfigSchema.shape.ensembleDistillation,
    /** Teacher features for the feature and relation terms, as in the coordinator config. */
    teacherFeatures: coordinatorConfigSchema.shape.teacherFeatures,
    /** Precision the soft labels travel in. Defaults to float16. */
    softLabelPrecision: z.enum(['float32', 'float16', 'uint8']).default('float16'),
    /** Worker threads hosting the clients: auto = one per core; 0 = all in the main thread. Defaults to auto. */
    workers: z.union([z.literal('auto'), z.number().int().min(0).max(256)]).default('auto'),
    /** tfjs backend to force (wasm, cpu, tensorflow). Defaults to the best that loads. */
    backend: z.string().optional(),
  })
  .superRefine((config, ctx) => {
    if (config.secureAggregation) {
      for (const strategy of config.strategy) {
        const conflict =
          strategy === 'central'
            ? 'secure aggregation needs a federated strategy (fedkd, fedavg), not central'
            : secureAggregationConflict(strategy, config.aggregator.kind);
        if (conflict)
          ctx.addIssue({ code: 'custom', path: ['secureAggregation'], message: conflict });
      }
    }
    for (const strategy of config.strategy) {
      if (strategy === 'central' || !findStrategy(strategy)?.capabilities.asynchronous) continue;
      const conflict = asynchronousConflict({ strategy, aggregator: config.aggregator });
      if (conflict)
        ctx.addIssue({ code: 'custom', path: [conflict.path], message: conflict.message });
    }
    if (config.clientStudents && !config.strategy.every(allowsClientStudents)) {
      const able = strategyNames().filter(allowsClientStudents);
      ctx.addIssue({
        code: 'custom',
        path: ['clientStudents'],
        message: `per-client students need strategies where no weights travel (${able.join(', ')}); got ${config.strategy.join(', ')}`,
      });
    }
    if (config.partition.kind === 'dirichlet' || config.partition.kind === 'iid') {
      const pool = Math.floor(config.data.total * config.data.split.clients);
      if (pool < config.clients) {
        ctx.addIssue({
          code: 'custom',
          path: ['clients'],
          message: `${config.clients} clients but only ${pool} samples in the client pool`,
        });
      }
    }
  });

export type SimConfigInput = z.input<typeof simConfigSchema>;
export type SimConfig = z.output<typeof simConfigSchema>;

/** Validates a simulation config; throws one Error listing every problem by field path. */
export function parseSimConfig(input: unknown): SimConfig {
  const result = simConfigSchema.safeParse(input);
  if (!result.success) {
    throw new Error(`invalid simulation config:\n${z.prettifyError(result.error)}`);
  }
  return result.data;
}

/** Reads and validates a JSON or YAML simulation config file. */
export function readSimConfigFile(path: string): SimConfig {
  const text = readFileSync(path, 'utf8');
  let value: unknown;
  try {
    value = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    return parseSimConfig(value ?? {});
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** A spec from its config form, sized to the data. */
export function resolveSpec(
  input: ModelSpecInput,
  inputShape: readonly number[],
  numClasses: number,
): ModelSpec {
  if (typeof input !== 'string') return input as ModelSpec;
  const spec = specFromShorthand(input, inputShape, numClasses);
  if (!spec) throw new Error(`model spec ${input}: expected mlp:H1,H2,… or cnn`);
  return spec;
}
