/**
 * A virtual client whose training runs on a Redis worker. It stays beside the
 * coordinator and speaks for the client over its MessagePort, exactly as the
 * FedClient of a worker thread does (the same PortTransport, the same hub):
 * it joins with the same request, makes sure the artifacts are in Redis, and
 * for each round it is sampled in hands the round to a training job; when the
 * job's update comes back it delivers it and reports the coordinator's answer.
 *
 * Only rounds that carry the global weights can be trained this way: the
 * worker's client starts from them, so it needs nothing from earlier rounds
 * (strategies where each client trains its own model on are refused earlier).
 */
import type { MessagePort } from 'node:worker_threads';
import type { FedClientEvent } from '../client/fedClient.js';
import { RefusedError } from '../client/transport.js';
import type { JoinAccepted, RoundStart } from '../shared/protocol/index.js';
import { joinResponseSchema, roundStartSchema } from '../shared/protocol/index.js';
import { createCodec } from '../shared/codec/index.js';
import { PortTransport } from './portTransport.js';
import type { SessionClient } from './clientPool.js';
import type { TrainingJobInput, TrainingJobOutput } from './redisJobs.js';

export interface QueuedClientOptions {
  client: SessionClient;
  port: MessagePort;
  /** Samples in the client's private shard (what its join reports). */
  numSamples: number;
  backend: string;
  onEvent: (event: FedClientEvent) => void;
  /** Puts the join's artifacts in Redis (once per hash); resolves with what the client would report. */
  stageArtifacts: (
    joined: JoinAccepted,
    fetch: (ref: JoinAccepted['proxyInputs']) => Promise<Uint8Array>,
  ) => Promise<{ proxyCount: number; bytes: number }>;
  /** Runs the round's training job; resolves with its output, rejects when the job fails. */
  train: (roundKey: string, input: TrainingJobInput) => Promise<TrainingJobOutput>;
}

export class QueuedClient {
  private readonly transport: PortTransport;
  private joined: JoinAccepted | undefined;
  private pendingRound: RoundStart | undefined;
  private readonly seenRounds = new Set<string>();
  private stopped = false;
  private readonly codec = createCodec();

  constructor(private readonly options: QueuedClientOptions) {
    this.transport = new PortTransport(options.port, {
      updateDelayMs: options.client.updateDelayMs ?? 0,
    });
  }

  private emit(event: FedClientEvent): void {
    if (!this.stopped) this.options.onEvent(event);
  }

  async start(): Promise<void> {
    const { client } = this.options;
    await this.transport.connect({
      roundStart: (round) => void this.onRoundStart(round),
      roundEnd: (summary) =>
        this.emit({
          type: 'round:end',
          roundId: summary.roundId,
          ...(summary.studentAccuracy !== undefined
            ? { studentAccuracy: summary.studentAccuracy }
            : {}),
        }),
      runEnd: (summary) => this.emit({ type: 'run:end', reason: summary.reason }),
      secAgg: () =>
        this.emit({ type: 'error', message: 'secure aggregation does not run on Redis workers' }),
      reconnected: () => undefined,
      disconnected: (reason) => this.emit({ type: 'disconnected', reason }),
    });
    const response = joinResponseSchema.parse(
      await this.transport.join({
        clientId: client.clientId,
        platform: 'sim',
        backend: this.options.backend,
        numSamples: this.options.numSamples,
        name: client.name,
      }),
    );
    if (!response.ok) throw new RefusedError(response.error.message, response.error.code);
    this.emit({
      type: 'joined',
      clientId: response.clientId,
      runId: response.runId,
      rejoin: false,
    });
    const staged = await this.options.stageArtifacts(response, (ref) =>
      this.transport.fetchArtifact(ref),
    );
    this.joined = response;
    this.emit({
      type: 'artifacts',
      proxyCount: staged.proxyCount,
      bytes: staged.bytes,
      fromCache: false,
    });
    const round = response.round ?? this.pendingRound;
    this.pendingRound = undefined;
    if (round) void this.onRoundStart(round);
  }

  private async onRoundStart(raw: RoundStart): Promise<void> {
    const parsed = roundStartSchema.safeParse(raw);
    if (!parsed.success) {
      this.emit({
        type: 'error',
        message: `ignored malformed round:start: ${parsed.error.message}`,
      });
      return;
    }
    const round = parsed.data;
    const joined = this.joined;
    if (!joined) {
      this.pendingRound = round;
      return;
    }
    const roundKey = `${round.roundId}@${round.deadline}`;
    if (this.seenRounds.has(roundKey)) return;
    this.seenRounds.add(roundKey);
    const { client } = this.options;
    try {
      if (!round.weights)
        throw new Error('the round carries no weights: its training cannot move to a Redis worker');
      if (round.secureAggregation)
        throw new Error('secure aggregation does not run on Redis workers');
      const output = await this.options.train(roundKey, {
        joined: { ...joined, round },
        clientId: client.clientId,
        name: client.name,
        seed: client.seed,
        ...(client.studentSpec ? { studentSpec: client.studentSpec } : {}),
      });
      for (const event of output.events) this.emit(event);
      if (this.stopped) return;
      const bytes = this.codec.encode(output.update).byteLength;
      const response = await this.transport.sendUpdate(output.update);
      if (response.ok) this.emit({ type: 'update:accepted', roundId: round.roundId, bytes });
      else
        this.emit({
          type: 'update:rejected',
          roundId: round.roundId,
          code: response.error.code,
          message: response.error.message,
        });
    } catch (error) {
      this.emit({ type: 'error', message: `round ${round.roundId}: ${(error as Error).message}` });
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.transport.close();
    this.stopped = true;
  }
}
