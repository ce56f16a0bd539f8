/**
 * What a simulation and its Redis workers agree on: the BullMQ queue, the
 * Redis keys that hold the binary payloads, what a training job carries and
 * returns, and how both sides connect.
 *
 * A job is one virtual client's local training for one round. BullMQ keeps
 * job data as JSON, so the job itself names only keys: the payloads (the
 * join answer with the round's global weights in, the update with its weight
 * delta out, the private shards, the artifacts) are MessagePack (msgpackr,
 * the wire codec every peer speaks) under those keys, each deleted once read
 * and all given an expiry so nothing outlives a crashed simulation for long.
 */
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { LabeledData } from '../shared/data/types.js';
import type { ModelSpec } from '../shared/models/index.js';
import type { JoinAccepted, UpdateMessage } from '../shared/protocol/index.js';
import type { FedClientEvent } from '../client/fedClient.js';
import { createCodec } from '../shared/codec/index.js';

/** The BullMQ queue every simulation puts its training jobs on and every worker takes them from. */
export const TRAINING_QUEUE = 'fedistill-sim-training';

/** Expiry of every payload key: a backstop for a simulation killed before it cleaned up. */
export const PAYLOAD_TTL_SECONDS = 24 * 3600;

/** Payloads come from this simulation's own processes, not from devices: room for large shards. */
export const payloadCodec = createCodec({
  maxBytes: 1024 * 1024 * 1024,
  maxArrayLength: 1 << 26,
  maxKeys: 1 << 20,
});

/** The keys of one simulation (`simId`, random per pool), all under one prefix. */
export function simKeys(simId: string) {
  const base = `fedistill:sim:${simId}`;
  return {
    prefix: base,
    /** Present while the simulation's payloads are in Redis; gone after a restart that lost them. */
    marker: `${base}:marker`,
    shard: (version: number, index: number) => `${base}:shard:${version}:${index}`,
    validation: (version: number) => `${base}:validation:${version}`,
    artifact: (hash: string) => `${base}:artifact:${hash}`,
    jobIn: (jobId: string) => `${base}:job:${jobId}:in`,
    jobOut: (jobId: string) => `${base}:job:${jobId}:out`,
  };
}

/** BullMQ job data (JSON): keys only, no payload. */
export interface TrainingJobData {
  simId: string;
  index: number;
  /** The tfjs backend the simulation's other clients run; a worker on another one refuses the job. */
  backend: string;
  inKey: string;
  outKey: string;
  shardKey: string;
  validationKey?: string;
  /** Artifact hash → key, so a worker fetches each artifact once and keeps it. */
  artifactKeys: Record<string, string>;
}

/** Under `inKey`: everything the worker's FedClient needs for the round. */
export interface TrainingJobInput {
  /** The coordinator's join answer, with the round to train in `round` (weights included). */
  joined: JoinAccepted & { round: NonNullable<JoinAccepted['round']> };
  clientId: string;
  name: string;
  seed: number;
  studentSpec?: ModelSpec;
}

/** Under `outKey`: the update to deliver and the client events the worker saw, in order. */
export interface TrainingJobOutput {
  update: UpdateMessage;
  events: FedClientEvent[];
  /** Which worker trained it (`host:pid`), for logs and tests. */
  worker: string;
}

/** What the job returns to BullMQ (kept small: the output itself is under `outKey`). */
export interface TrainingJobResult {
  outKey: string;
  worker: string;
}

export type StoredShard = LabeledData;

/** The URL with any password masked, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/** Throws an error naming the field when `url` is not a redis:// or rediss:// URL. */
export function checkRedisUrl(url: string, field = '--redis'): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`${field}: '${url}' is not a URL (expected redis://HOST:PORT)`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')
    throw new Error(`${field}: '${redactUrl(url)}' is not a redis:// or rediss:// URL`);
}

/**
 * Connects once, without retrying, and fails with an error naming the URL when Redis is not
 * there: what a simulation or worker does at start, before any long-lived connection.
 */
export async function probeRedis(url: string, timeoutMs = 5000): Promise<void> {
  checkRedisUrl(url);
  const probe = new Redis(url, {
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: timeoutMs,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
  } catch (error) {
    throw new Error(`Redis at ${redactUrl(url)} is unreachable: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    probe.disconnect();
  }
}

/**
 * A long-lived connection: retries forever (commands wait for the reconnect), as BullMQ
 * requires for workers. `onError` sees each failed attempt instead of ioredis's own logging.
 */
export function connectRedis(url: string, onError: (error: Error) => void): Redis {
  const options: RedisOptions = {
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => Math.min(100 * attempt, 1000),
  };
  const redis = new Redis(url, options);
  redis.on('error', onError);
  return redis;
}
