/**
 * `fedistill worker --redis URL`: takes simulation training jobs from the
 * BullMQ queue and runs each as the same FedClient a worker thread would run,
 * for one round: the job's input is the coordinator's join answer with the
 * round in it, so the client joins, loads the artifacts (fetched from Redis
 * once per worker and kept), trains from the round's global weights with the
 * client's seed, and the update it sends is the job's output. Any number of
 * workers, on any host that reaches the Redis server.
 *
 * A worker that dies holding a job stops renewing its lock: BullMQ's stalled
 * check (run by the other workers) puts the job back, another worker trains
 * it again from the same input, with the same seed, to the same update, and
 * the simulation delivers each job's update once.
 */
import { hostname } from 'node:os';
import { UnrecoverableError, Worker } from 'bullmq';
import type { Job } from 'bullmq';
import { selectNodeBackend } from '../node/backend.js';
import type { FedClientEvent } from '../client/fedClient.js';
import { FedClient } from '../client/fedClient.js';
import type { FedTransport, TransportHandlers } from '../client/transport.js';
import type {
  ArtifactRef,
  JoinResponse,
  UpdateMessage,
  UpdateResponse,
} from '../shared/protocol/index.js';
import type { LabeledData } from '../shared/data/types.js';
import type {
  StoredShard,
  TrainingJobData,
  TrainingJobInput,
  TrainingJobOutput,
  TrainingJobResult,
} from './redisJobs.js';
import { PAYLOAD_TTL_SECONDS, TRAINING_QUEUE, payloadCodec } from './redisJobs.js';
import { connectRedis, probeRedis, redactUrl } from '../node/redis.js';

export interface SimWorkerOptions {
  url: string;
  /** Jobs trained at once. wasm runs one thread per process, so 1 keeps a core busy. Defaults to 1. */
  concurrency?: number;
  /** tfjs backend to force. Defaults to the best that loads. */
  backend?: string;
  /**
   * How long a job's lock lasts without renewal (BullMQ's lockDuration), and how often this
   * worker looks for jobs whose worker died (stalledInterval). Defaults to 30,000 ms.
   */
  lockMs?: number;
  /**
   * Give up when Redis has been unreachable this long: `gaveUp` resolves with why, and the
   * worker takes no more jobs. Defaults to never (wait for Redis as long as it takes).
   */
  giveUpAfterMs?: number;
  log?: (message: string) => void;
}

export interface SimWorker {
  readonly backend: string;
  readonly name: string;
  /** Jobs this worker completed. */
  readonly completed: number;
  /** Resolves with the reason when the worker gave up on an unreachable Redis (`giveUpAfterMs`). */
  readonly gaveUp: Promise<string>;
  close(): Promise<void>;
}

/** Client events the simulation sees from the job (it makes joined, artifacts and the ack itself). */
function forwarded(event: FedClientEvent): boolean {
  return event.type === 'round:start' || event.type === 'round:trained';
}

/**
 * The FedClient's transport inside a job: the join answers with the recorded join (round
 * included), artifacts come from Redis, and the update is captured as the job's output. The
 * coordinator's real answer to the update reaches the simulation, not this client.
 */
class JobTransport implements FedTransport {
  private open = false;
  update: UpdateMessage | undefined;

  constructor(
    private readonly joined: TrainingJobInput['joined'],
    private readonly artifact: (ref: ArtifactRef) => Promise<Uint8Array>,
  ) {}

  get connected(): boolean {
    return this.open;
  }

  connect(_handlers: TransportHandlers): Promise<void> {
    this.open = true;
    return Promise.resolve();
  }

  join(): Promise<JoinResponse> {
    return Promise.resolve(this.joined);
  }

  sendUpdate(update: UpdateMessage): Promise<UpdateResponse> {
    this.update = update;
    return Promise.resolve({ ok: true, roundId: update.roundId });
  }

  sendSecAgg(): Promise<UpdateResponse> {
    return Promise.reject(new Error('secure aggregation does not run on Redis workers'));
  }

  fetchArtifact(ref: ArtifactRef): Promise<Uint8Array> {
    return this.artifact(ref);
  }

  close(): void {
    this.open = false;
  }
}

/** Keeps the latest values by key, dropping the oldest beyond `limit` (shards of many simulations). */
class Recent<T> {
  private readonly map = new Map<string, T>();
  constructor(private readonly limit: number) {}
  get(key: string): T | undefined {
    return this.map.get(key);
  }
  set(key: string, value: T): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.limit) this.map.delete(this.map.keys().next().value as string);
  }
}

export async function startSimWorker(options: SimWorkerOptions): Promise<SimWorker> {
  const log = options.log ?? (() => undefined);
  const where = redactUrl(options.url);
  await probeRedis(options.url);
  const choice = await selectNodeBackend(
    options.backend !== undefined ? { force: options.backend } : {},
  );
  const name = `${hostname()}:${process.pid}`;
  let lost = false;
  let giveUpTimer: NodeJS.Timeout | undefined;
  let giveUp: (reason: string) => void = () => undefined;
  const gaveUp = new Promise<string>((resolve) => (giveUp = resolve));
  const onError = (error: Error) => {
    if (lost) return;
    lost = true;
    log(`Redis at ${where} unreachable (${error.message}): waiting for it to return`);
    const limit = options.giveUpAfterMs;
    if (limit !== undefined)
      giveUpTimer = setTimeout(
        () => giveUp(`Redis at ${where} unreachable for ${Math.round(limit / 1000)} s: giving up`),
        limit,
      );
  };
  const data = connectRedis(options.url, onError);
  const blocking = connectRedis(options.url, onError);
  for (const connection of [data, blocking])
    connection.on('ready', () => {
      if (!lost) return;
      lost = false;
      clearTimeout(giveUpTimer);
      log(`Redis at ${where} is back: taking jobs again`);
    });
  const PAYLOAD_WAIT_MS = 250;
  const PAYLOAD_WAIT_ATTEMPTS = 40;
  const shards = new Recent<LabeledData>(4096);
  const artifacts = new Recent<Uint8Array>(16);
  let completed = 0;

  // After a Redis restart without persistence a job can reach a worker before the simulation
  // has staged its lost payloads again (recover() in redisPool.ts): wait a little for them.
  const fetchPayload = async (key: string, what: string): Promise<unknown> => {
    for (let attempt = 0; ; attempt++) {
      const bytes = await data.getBuffer(key);
      if (bytes) return payloadCodec.decode(bytes);
      if (attempt >= PAYLOAD_WAIT_ATTEMPTS)
        throw new Error(
          `${what} is not in Redis (${key}): the simulation cleaned it up or Redis lost it`,
        );
      await new Promise((resolve) => setTimeout(resolve, PAYLOAD_WAIT_MS));
    }
  };

  const process_ = async (job: Job<TrainingJobData, TrainingJobResult>) => {
    const spec = job.data;
    if (spec.backend !== choice.name)
      throw new UnrecoverableError(
        `worker ${name} runs the ${choice.name} backend, the simulation's clients run ${spec.backend} (start it with --backend ${spec.backend})`,
      );
    const started = Date.now();
    log(`job ${job.id}: client ${spec.index} (attempt ${job.attemptsStarted})`);
    const input = (await fetchPayload(spec.inKey, 'the job input')) as TrainingJobInput;
    let shard = shards.get(spec.shardKey);
    if (!shard) {
      shard = (await fetchPayload(spec.shardKey, `client ${spec.index}'s shard`)) as StoredShard;
      shards.set(spec.shardKey, shard);
    }
    let validation: LabeledData | undefined;
    if (spec.validationKey) {
      validation = shards.get(spec.validationKey);
      if (!validation) {
        validation = (await fetchPayload(spec.validationKey, 'the validation set')) as LabeledData;
        shards.set(spec.validationKey, validation);
      }
    }
    const transport = new JobTransport(input.joined, async (ref) => {
      const held = artifacts.get(ref.hash);
      if (held) return held;
      const key = spec.artifactKeys[ref.hash];
      const bytes = key ? await data.getBuffer(key) : null;
      if (!bytes) throw new Error(`artifact ${ref.hash} is not in Redis`);
      const copy = new Uint8Array(bytes);
      artifacts.set(ref.hash, copy);
      return copy;
    });
    const events: FedClientEvent[] = [];
    let settle: (error?: Error) => void = () => undefined;
    const finished = new Promise<void>((resolve, reject) => {
      settle = (error) => (error ? reject(error) : resolve());
    });
    const client = new FedClient({
      transport,
      data: shard,
      ...(validation ? { validation } : {}),
      ...(input.studentSpec ? { studentSpec: input.studentSpec } : {}),
      platform: 'sim',
      backend: choice.name,
      name: input.name,
      clientId: input.clientId,
      seed: input.seed,
      onEvent: (event) => {
        if (forwarded(event)) events.push(event);
        if (event.type === 'update:accepted') settle();
        else if (event.type === 'error') settle(new Error(event.message));
        else if (event.type === 'update:rejected') settle(new Error(event.message));
      },
    });
    try {
      await client.start();
      await finished;
    } finally {
      client.stop();
    }
    if (!transport.update) throw new Error(`client ${spec.index} sent no update`);
    const output: TrainingJobOutput = { update: transport.update, events, worker: name };
    await data.set(
      spec.outKey,
      Buffer.from(payloadCodec.encode(output)),
      'EX',
      PAYLOAD_TTL_SECONDS,
    );
    completed += 1;
    log(`job ${job.id}: done in ${Date.now() - started} ms`);
    return { outKey: spec.outKey, worker: name };
  };

  const lockMs = options.lockMs ?? 30_000;
  const worker = new Worker<TrainingJobData, TrainingJobResult>(TRAINING_QUEUE, process_, {
    connection: blocking,
    concurrency: options.concurrency ?? 1,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    // A job whose worker died twice over is given up: the simulation reports it.
    maxStalledCount: 2,
    name,
    removeOnComplete: { count: 0 },
    removeOnFail: { count: 0 },
  });
  worker.on('error', (error) => onError(error));
  worker.on('failed', (job, error) => log(`job ${job?.id ?? '?'} failed: ${error.message}`));
  await worker.waitUntilReady();
  log(`worker ${name} (${choice.name}) takes jobs from ${where}`);
  return {
    backend: choice.name,
    name,
    get completed() {
      return completed;
    },
    gaveUp,
    async close() {
      clearTimeout(giveUpTimer);
      if (data.status !== 'ready') {
        // Commands would wait for Redis forever; BullMQ's close too (see redisPool.ts).
        for (const connection of [data, blocking]) connection.disconnect();
        void worker.close(true).catch(() => undefined);
        return;
      }
      await worker.close();
      await Promise.all([data, blocking].map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}
