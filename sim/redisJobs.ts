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
