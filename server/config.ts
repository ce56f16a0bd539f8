/**
 * Everything a coordinator run can be told, with defaults. The CLI, a config
 * file and tests all go through `coordinatorConfigSchema`, so a bad value fails
 * in one place with a message naming the field.
 */
import { z } from 'zod';
import { roundConfigSchema } from '../shared/protocol/index.js';

export const coordinatorConfigSchema = z.strictObject({
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
  /** Share of sampled clients whose updates must arrive for the round to count. Defaults to 0.5. */
  quorum: z.number().gt(0).max(1).default(0.5),
  /** Consecutive rounds below quorum after which the run stops. Defaults to 5. */
  maxFailedRounds: z.number().int().min(1).default(5),
  /** Seed for sampling and the student's initial weights. Defaults to 1. */
  seed: z.number().int().default(1),
  /** Join tokens; when empty anyone may join. Defaults to none. */
  tokens: z.array(z.string().min(1)).default([]),
  /** Origins allowed by CORS for browser clients. Defaults to none (same origin only). */
  corsOrigins: z.array(z.string()).default([]),
  /** Largest socket.io message accepted, in bytes. Defaults to 64 MiB. */
  maxMessageBytes: z
    .number()
    .int()
    .min(1024)
    .default(64 * 1024 * 1024),
  /** Local training settings sent to clients each round. */
  training: roundConfigSchema.default({
    epochs: 2,
    batchSize: 32,
    learningRate: 0.002,
    temperature: 4,
    alpha: 0.3,
    optimizer: 'adam',
    updatePrecision: 'float32',
  }),
  /** Soft labels kept per proxy sample; 0 keeps all classes. Defaults to 0. */
  softLabelTopK: z.number().int().min(0).default(0),
  /** Precision soft labels travel in. Defaults to float16. */
  softLabelPrecision: z.enum(['float32', 'float16', 'uint8']).default('float16'),
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
