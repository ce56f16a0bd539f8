/**
 * The client pool of `fedistill simulate --redis URL`: the virtual clients'
 * local training runs on `fedistill worker --redis URL` processes, any number,
 * on any host, through a BullMQ queue. The coordinator, the hub and the rest
 * of the simulation are the ones the worker-thread pool serves: each virtual
 * client is a QueuedClient on the hub's port, and each round it is sampled in
 * becomes one training job (see redisJobs.ts for what travels and where).
 *
 * Redis lost mid-run: the pool says so (naming the URL), waits, and when the
 * server is back puts back what it lost (a restart without persistence loses
 * everything): the shards, the artifacts, and every job still owed an update.
 * A job retried this way or after its worker died is delivered once: a job's
 * update is taken the first time it completes, later completions are ignored.
 * Redis away for longer than `outageLimitMs` fails the run.
 */
import { randomBytes } from 'node:crypto';
import { MessageChannel } from 'node:worker_threads';
import { Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { LabeledData } from '../shared/data/types.js';
import type { JoinAccepted } from '../shared/protocol/index.js';
import { decodeProxyInputs } from '../shared/artifacts/index.js';
import { createCodec } from '../shared/codec/index.js';
import type { SessionClient, SessionListener, SimClientPool } from './clientPool.js';
import { QueuedClient } from './queuedClient.js';
import type {
  TrainingJobData,
  TrainingJobInput,
  TrainingJobOutput,
  TrainingJobResult,
} from './redisJobs.js';
import { PAYLOAD_TTL_SECONDS, TRAINING_QUEUE, payloadCodec, simKeys } from './redisJobs.js';
import { connectRedis, probeRedis, redactUrl } from '../node/redis.js';
import type { SimHub } from './simHub.js';

export interface RedisPoolOptions {
  /** redis://HOST:PORT of the server the workers take jobs from. */
  url: string;
  /** The tfjs backend every worker must run (the clients' join reports it). Defaults to wasm. */
  backend?: string;
  /** How long to wait at start for a first worker. Defaults to 60,000 ms. */
  waitForWorkersMs?: number;
  /** How long Redis may stay unreachable mid-run before the run fails. Defaults to 120,000 ms. */
  outageLimitMs?: number;
  log?: (message: string) => void;
  /** Sees each change between connected and degraded (tests, dashboards). */
  onState?: (state: RedisPoolState) => void;
}

export type RedisPoolState =
  | { kind: 'connected' }
  | { kind: 'degraded'; message: string }
  | { kind: 'recovered'; restaged: boolean; resubmitted: number };

/** What went through Redis and what happened to the jobs, counted by the simulation. */
export interface RedisPoolStats {
  /** Workers connected to the queue when the pool started. */
  workers: number;
  jobs: number;
  /** Jobs BullMQ found stalled (their worker died or stopped renewing its lock) and put back. */
  stalled: number;
  /** Jobs submitted again after Redis lost them. */
  resubmitted: number;
  /** Completions ignored because the job's update had been taken already. */
  duplicateCompletions: number;
  /** Payload bytes this process wrote to Redis (shards, artifacts, job inputs). */
  bytesWritten: number;
  /** Payload bytes this process read back (job outputs). */
  bytesRead: number;
  /** Of those, the job inputs and outputs alone (what each round moves). */
  jobBytesWritten: number;
  jobBytesRead: number;
  /** Which worker trained how many jobs. */
  jobsByWorker: Record<string, number>;
}

interface PendingJob {
  jobId: string;
  session: number;
  data: TrainingJobData;
  input: Buffer;
  settled: boolean;
  resolve: (output: TrainingJobOutput) => void;
  reject: (error: Error) => void;
}

interface Session {
  listener: SessionListener;
  clients: QueuedClient[];
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

export class RedisClientPool implements SimClientPool {
  readonly backends: string[];
  readonly stats: RedisPoolStats = {
    workers: 0,
    jobs: 0,
    stalled: 0,
    resubmitted: 0,
    duplicateCompletions: 0,
    bytesWritten: 0,
    bytesRead: 0,
    jobBytesWritten: 0,
    jobBytesRead: 0,
    jobsByWorker: {},
  };
  private readonly simId = randomBytes(6).toString('hex');
  private readonly keys = simKeys(this.simId);
  private readonly where: string;
  private readonly log: (message: string) => void;
  private readonly sessions = new Map<number, Session>();
  private readonly pending = new Map<string, PendingJob>();
  private nextSession = 1;
  private shardVersion = 0;
  private shardCounts: number[] = [];
  private shards: readonly LabeledData[] = [];
  private validation: LabeledData | undefined;
  private staging: Promise<void> = Promise.resolve();
  /** Artifacts staged for this simulation: hash → bytes (kept to stage again after a loss). */
  private readonly artifacts = new Map<string, Uint8Array>();
  private readonly artifactStaging = new Map<string, Promise<{ proxyCount?: number }>>();
  private proxyCount = 0;
  private degradedSince: number | undefined;
  private outageTimer: NodeJS.Timeout | undefined;
  private recovering: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly codec = createCodec();

  private constructor(
    private readonly options: RedisPoolOptions,
    private readonly redis: Redis,
    private readonly queue: Queue<TrainingJobData, TrainingJobResult>,
    private readonly events: QueueEvents,
    private readonly eventsConnection: Redis,
  ) {
    this.backends = [options.backend ?? 'wasm'];
    this.where = redactUrl(options.url);
    this.log = options.log ?? (() => undefined);
  }

  get description(): string {
    return `workers over Redis at ${this.where}`;
  }

  static async create(options: RedisPoolOptions): Promise<RedisClientPool> {
    await probeRedis(options.url);
    // Connection errors before the pool exists only mean the probe's answer is already stale.
    const onError = (error: Error) => poolRef.pool?.onConnectionLost(error);
    const poolRef: { pool?: RedisClientPool } = {};
    const redis = connectRedis(options.url, onError);
    const eventsConnection = connectRedis(options.url, onError);
    const queue = new Queue<TrainingJobData, TrainingJobResult>(TRAINING_QUEUE, {
      connection: redis,
    });
    const events = new QueueEvents(TRAINING_QUEUE, { connection: eventsConnection });
    const pool = new RedisClientPool(options, redis, queue, events, eventsConnection);
    poolRef.pool = pool;
    queue.on('error', onError);
    events.on('error', onError);
    redis.on('close', () => pool.onConnectionLost(new Error('connection closed')));
    redis.on('ready', () => pool.onConnectionBack());
    events.on(
      'completed',
      ({ jobId, returnvalue }) =>
        void pool.onCompleted(jobId, returnvalue as unknown as TrainingJobResult),
    );
    events.on('failed', ({ jobId, failedReason }) => pool.onFailed(jobId, failedReason));
    events.on('stalled', ({ jobId }) => pool.onStalled(jobId));
    try {
      await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
      await redis.set(pool.keys.marker, '1', 'EX', PAYLOAD_TTL_SECONDS);
      pool.stats.workers = await pool.waitForWorkers(options.waitForWorkersMs ?? 60_000);
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  private async waitForWorkers(limitMs: number): Promise<number> {
    const started = Date.now();
    let said = false;
    for (;;) {
      const workers = await this.queue.getWorkers();
      if (workers.length > 0) return workers.length;
      if (Date.now() - started >= limitMs)
        throw new Error(
          `no worker takes jobs from Redis at ${this.where} (waited ${Math.round(limitMs / 1000)} s): start \`fedistill worker --redis ${this.where}\``,
        );
      if (!said) {
        this.log(`waiting for workers: start \`fedistill worker --redis ${this.where}\``);
        said = true;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  // --- shards and artifacts -------------------------------------------------------------

  loadShards(shards: readonly LabeledData[], validation?: LabeledData): Promise<void> {
    const previous = this.shardVersion;
    this.shardVersion += 1;
    this.shards = shards;
    this.shardCounts = shards.map((s) => s.count);
    this.validation = validation;
    this.staging = this.staging.then(async () => {
      await this.stageShards();
      if (previous > 0) await this.deleteShards(previous, shards.length);
    });
    return this.staging;
  }

  private async stageShards(): Promise<void> {
    const version = this.shardVersion;
    const batch = this.redis.multi();
    this.shards.forEach((shard, index) => {
      const bytes = Buffer.from(payloadCodec.encode(shard));
      this.stats.bytesWritten += bytes.byteLength;
      batch.set(this.keys.shard(version, index), bytes, 'EX', PAYLOAD_TTL_SECONDS);
    });
    if (this.validation) {
      const bytes = Buffer.from(payloadCodec.encode(this.validation));
      this.stats.bytesWritten += bytes.byteLength;
      batch.set(this.keys.validation(version), bytes, 'EX', PAYLOAD_TTL_SECONDS);
    }
    await batch.exec();
  }

  private async deleteShards(version: number, count: number): Promise<void> {
    const keys = Array.from({ length: count }, (_, i) => this.keys.shard(version, i));
    await this.redis.del(...keys, this.keys.validation(version));
  }

  private stageArtifact(
    hash: string,
    fetch: () => Promise<Uint8Array>,
    isProxy: boolean,
  ): Promise<{ proxyCount?: number }> {
    let staged = this.artifactStaging.get(hash);
    if (!staged) {
      staged = (async () => {
        const bytes = await fetch();
        const actual = await sha256Hex(bytes);
        if (actual !== hash) throw new Error(`artifact hashes to ${actual}, expected ${hash}`);
        this.artifacts.set(hash, bytes);
        await this.redis.set(
          this.keys.artifact(hash),
          Buffer.from(bytes),
          'EX',
          PAYLOAD_TTL_SECONDS,
        );
        this.stats.bytesWritten += bytes.byteLength;
        return isProxy ? { proxyCount: decodeProxyInputs(this.codec.decode(bytes)).count } : {};
      })();
      this.artifactStaging.set(hash, staged);
      staged.catch(() => this.artifactStaging.delete(hash));
    }
    return staged;
  }

  private async stageArtifacts(
    joined: JoinAccepted,
    fetch: (ref: JoinAccepted['proxyInputs']) => Promise<Uint8Array>,
  ): Promise<{ proxyCount: number; bytes: number }> {
    const [proxy] = await Promise.all([
      this.stageArtifact(joined.proxyInputs.hash, () => fetch(joined.proxyInputs), true),
      this.stageArtifact(joined.softLabels.hash, () => fetch(joined.softLabels), false),
    ]);
    if (proxy.proxyCount !== undefined) this.proxyCount = proxy.proxyCount;
    return {
      proxyCount: proxy.proxyCount ?? this.proxyCount,
      bytes:
        (this.artifacts.get(joined.proxyInputs.hash)?.byteLength ?? 0) +
        (this.artifacts.get(joined.softLabels.hash)?.byteLength ?? 0),
    };
  }

  // --- sessions -------------------------------------------------------------------------

  startSession(hub: SimHub, clients: readonly SessionClient[], listener: SessionListener): number {
    if (this.closed) throw new Error('client pool is closed');
    const session = this.nextSession++;
    const entry: Session = { listener, clients: [] };
    this.sessions.set(session, entry);
    const version = this.shardVersion;
    for (const client of clients) {
      const channel = new MessageChannel();
      hub.attach(channel.port1);
      const queued = new QueuedClient({
        client,
        port: channel.port2,
        numSamples: this.shardCounts[client.index] ?? 0,
        backend: this.backends[0]!,
        onEvent: (event) => this.sessions.get(session)?.listener.onClientEvent(client.index, event),
        stageArtifacts: (joined, fetch) => this.stageArtifacts(joined, fetch),
        train: (roundKey, input) => this.train(session, version, client.index, roundKey, input),
      });
      entry.clients.push(queued);
      void this.staging
        .then(() => queued.start())
        .catch((error: Error) =>
          this.sessions
            .get(session)
            ?.listener.onFailure(`client ${client.index} failed: ${error.message}`),
        );
    }
    return session;
  }

  private async train(
    session: number,
    version: number,
    index: number,
    roundKey: string,
    input: TrainingJobInput,
  ): Promise<TrainingJobOutput> {
    const jobId = `${this.simId}.${session}.${index}.${roundKey.replace(/[^\w]/g, '-')}`;
    const artifactKeys: Record<string, string> = {};
    for (const ref of [input.joined.proxyInputs, input.joined.softLabels])
      artifactKeys[ref.hash] = this.keys.artifact(ref.hash);
    const data: TrainingJobData = {
      simId: this.simId,
      index,
      backend: this.backends[0]!,
      inKey: this.keys.jobIn(jobId),
      outKey: this.keys.jobOut(jobId),
      shardKey: this.keys.shard(version, index),
      ...(this.validation ? { validationKey: this.keys.validation(version) } : {}),
      artifactKeys,
    };
    const bytes = Buffer.from(payloadCodec.encode(input));
    return new Promise<TrainingJobOutput>((resolve, reject) => {
      const job: PendingJob = {
        jobId,
        session,
        data,
        input: bytes,
        settled: false,
        resolve,
        reject,
      };
      this.pending.set(jobId, job);
      this.stats.jobs += 1;
      this.submit(job).catch((error: Error) => this.settle(job, error));
    });
  }

  private async submit(job: PendingJob): Promise<void> {
    await this.redis.set(job.data.inKey, job.input, 'EX', PAYLOAD_TTL_SECONDS);
    this.stats.bytesWritten += job.input.byteLength;
    this.stats.jobBytesWritten += job.input.byteLength;
    await this.queue.add('train', job.data, {
      jobId: job.jobId,
      removeOnComplete: true,
      removeOnFail: true,
    });
  }

  private settle(job: PendingJob, outcome: Error | TrainingJobOutput): void {
    if (job.settled) return;
    job.settled = true;
    this.pending.delete(job.jobId);
    if (outcome instanceof Error) job.reject(outcome);
    else job.resolve(outcome);
  }

  private async onCompleted(jobId: string, result: TrainingJobResult | undefined): Promise<void> {
    const job = this.pending.get(jobId);
    if (!job || job.settled) {
      if (jobId.startsWith(`${this.simId}.`)) this.stats.duplicateCompletions += 1;
      return;
    }
    // Taken now, so a second completion (a stalled job trained twice) finds it settled.
    job.settled = true;
    try {
      const bytes = await this.redis.getBuffer(job.data.outKey);
      if (!bytes) throw new Error(`job ${jobId} completed but its output is gone from Redis`);
      this.stats.bytesRead += bytes.byteLength;
      this.stats.jobBytesRead += bytes.byteLength;
      const output = payloadCodec.decode(bytes) as TrainingJobOutput;
      this.stats.jobsByWorker[output.worker] = (this.stats.jobsByWorker[output.worker] ?? 0) + 1;
      await this.redis.del(job.data.inKey, job.data.outKey);
      this.pending.delete(jobId);
      job.resolve(output);
    } catch (error) {
      this.pending.delete(jobId);
      job.reject(new Error(`${(error as Error).message} (worker ${result?.worker ?? '?'})`));
    }
  }

  private onFailed(jobId: string, reason: string): void {
    const job = this.pending.get(jobId);
    if (!job) return;
    void this.redis.del(job.data.inKey, job.data.outKey).catch(() => undefined);
    this.settle(job, new Error(`training job failed on a worker: ${reason}`));
  }

  private onStalled(jobId: string): void {
    if (!this.pending.has(jobId)) return;
    this.stats.stalled += 1;
    this.log(`job ${jobId} stalled (its worker died or hung): BullMQ hands it to another worker`);
  }

  stopSession(session: number): void {
    const entry = this.sessions.get(session);
    this.sessions.delete(session);
    for (const client of entry?.clients ?? []) client.stop();
    for (const job of [...this.pending.values()]) {
      if (job.session !== session) continue;
      this.settle(job, new Error('session stopped'));
      void this.queue
        .remove(job.jobId)
        .then(() => this.redis.del(job.data.inKey, job.data.outKey))
        .catch(() => undefined);
    }
  }

  // --- Redis lost and back --------------------------------------------------------------

  private onConnectionLost(error: Error): void {
    if (this.closed || this.degradedSince !== undefined) return;
    this.degradedSince = Date.now();
    const limit = this.options.outageLimitMs ?? 120_000;
    const message = `Redis at ${this.where} unreachable (${error.message || 'connection closed'}): simulation paused, waiting up to ${Math.round(limit / 1000)} s for it to return`;
    this.log(message);
    this.options.onState?.({ kind: 'degraded', message });
    this.outageTimer = setTimeout(() => {
      const failure = `Redis at ${this.where} unreachable for ${Math.round(limit / 1000)} s: the simulation cannot continue`;
      for (const session of this.sessions.values()) session.listener.onFailure(failure);
    }, limit);
  }

  private onConnectionBack(): void {
    if (this.closed || this.degradedSince === undefined) return;
    clearTimeout(this.outageTimer);
    const away = Date.now() - this.degradedSince;
    this.degradedSince = undefined;
    this.log(`Redis at ${this.where} is back after ${(away / 1000).toFixed(1)} s`);
    this.recovering = this.recovering.then(() =>
      this.recover().catch((error: Error) => {
        for (const session of this.sessions.values())
          session.listener.onFailure(
            `Redis at ${this.where} came back but the simulation could not recover: ${error.message}`,
          );
      }),
    );
  }

  /**
   * After a reconnect: a server that lost its data (restarted without persistence) gets the
   * shards and artifacts again; every job still owed an update whose output is not there and
   * which the queue no longer holds is submitted again (same id, same input).
   */
  private async recover(): Promise<void> {
    const restaged = (await this.redis.exists(this.keys.marker)) === 0;
    if (restaged) {
      await this.redis.set(this.keys.marker, '1', 'EX', PAYLOAD_TTL_SECONDS);
      await this.stageShards();
      for (const [hash, bytes] of this.artifacts) {
        await this.redis.set(
          this.keys.artifact(hash),
          Buffer.from(bytes),
          'EX',
          PAYLOAD_TTL_SECONDS,
        );
        this.stats.bytesWritten += bytes.byteLength;
      }
    }
    let resubmitted = 0;
    for (const job of [...this.pending.values()]) {
      if (job.settled) continue;
      if ((await this.redis.exists(job.data.outKey)) === 1) {
        await this.onCompleted(job.jobId, undefined);
        continue;
      }
      if (await Job.fromId(this.queue, job.jobId)) {
        // The job was added after the restart but its input was written before it: put it back.
        if ((await this.redis.exists(job.data.inKey)) === 0)
          await this.redis.set(job.data.inKey, job.input, 'EX', PAYLOAD_TTL_SECONDS);
        continue;
      }
      await this.submit(job);
      resubmitted += 1;
    }
    this.stats.resubmitted += resubmitted;
    if (resubmitted > 0 || restaged)
      this.log(
        `Redis at ${this.where}: ${restaged ? 'its data was lost, shards and artifacts staged again; ' : ''}${resubmitted} job(s) submitted again`,
      );
    this.options.onState?.({ kind: 'recovered', restaged, resubmitted });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const session of [...this.sessions.keys()]) this.stopSession(session);
    this.closed = true;
    clearTimeout(this.outageTimer);
    await this.recovering;
    // With Redis away, commands would wait for it forever (that is what keeps a run alive through
    // an outage): drop the connections at once instead, leaving the keys to their expiry.
    const reachable = this.redis.status === 'ready';
    if (reachable) await this.deleteAll().catch(() => undefined);
    else for (const connection of [this.redis, this.eventsConnection]) connection.disconnect();
    if (reachable) {
      await this.events.close().catch(() => undefined);
      await this.queue.close().catch(() => undefined);
    } else {
      // BullMQ's close waits for its connections to answer, which dropped ones never do.
      void this.events.close().catch(() => undefined);
      void this.queue.close().catch(() => undefined);
    }
    if (reachable)
      for (const connection of [this.redis, this.eventsConnection])
        await connection.quit().catch(() => connection.disconnect());
  }

  /** Deletes every key of this simulation (shards, artifacts, job payloads, the marker). */
  private async deleteAll(): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(
        cursor,
        'MATCH',
        `${this.keys.prefix}:*`,
        'COUNT',
        500,
      );
      cursor = next;
      if (keys.length > 0) await this.redis.del(...keys);
    } while (cursor !== '0');
  }
}
