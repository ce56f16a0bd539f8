/**
 * The coordinator's round state machine: wait for clients, sample, send the
 * global student, collect updates until the deadline or the last answer,
 * aggregate under a quorum rule, evaluate, checkpoint, record — then again.
 *
 * Updates are folded into a streaming FedAvg accumulator as they arrive, so
 * memory stays O(parameters) however many clients answer.
 */
import { randomUUID } from 'node:crypto';
import type * as tf from '@tensorflow/tfjs';
import { FedAvgAccumulator } from '../shared/aggregation/index.js';
import { createRng } from '../shared/data/index.js';
import type { LabeledData } from '../shared/data/types.js';
import type { ModelSpec } from '../shared/models/index.js';
import {
  buildModel,
  countParameters,
  getFlatWeights,
  setFlatWeights,
} from '../shared/models/index.js';
import { evaluate } from '../shared/training/index.js';
import { createCodec, decodeWeights, encodeWeights } from '../shared/codec/index.js';
import type {
  ArtifactRef,
  ClientToServerEvents,
  ErrorCode,
  JoinResponse,
  RoundStart,
  ServerToClientEvents,
  UpdateResponse,
} from '../shared/protocol/index.js';
import { PROTOCOL_VERSION, joinRequestSchema, updateSchema } from '../shared/protocol/index.js';
import type { CoordinatorConfig } from './config.js';
import type { ClientHub, ClientLink } from './clientHub.js';
import type { RoundRecord, RunStore } from './store.js';
import { quorumSize, sampleClients } from './sampling.js';
import type { CheckpointWriter } from './checkpoints.js';

export type CoordinatorEvent =
  | {
      type: 'client:joined';
      clientId: string;
      platform: string;
      backend: string;
      numSamples: number;
      name: string | null;
      rejoin: boolean;
    }
  | { type: 'client:left'; clientId: string }
  | { type: 'round:started'; roundId: number; sampled: string[]; deadline: number }
  | {
      type: 'update:accepted';
      roundId: number;
      clientId: string;
      numSamples: number;
      bytes: number;
    }
  | { type: 'update:rejected'; roundId: number; clientId: string; code: ErrorCode; message: string }
  | { type: 'round:closed'; record: RoundRecord }
  | { type: 'waiting'; connected: number; needed: number };

export interface CoordinatorParts {
  runId: string;
  config: CoordinatorConfig;
  hub: ClientHub;
  store: RunStore;
  checkpoints: CheckpointWriter;
  studentSpec: ModelSpec;
  test: LabeledData;
  /** Teacher's top-1 class on each test sample, for accuracy and agreement. */
  teacherTestPredictions: Int32Array;
  teacherTestAccuracy: number;
  teacherHash: string;
  proxyInputs: ArtifactRef;
  softLabels: ArtifactRef & { temperature: number };
  onEvent?: (event: CoordinatorEvent) => void;
}

interface ConnectedClient {
  link: ClientLink;
  platform: string;
  backend: string;
  numSamples: number;
}

interface OpenRound {
  id: number;
  message: RoundStart;
  bytesDown: number;
  startedAt: number;
  sampled: Set<string>;
  answered: Set<string>;
  accumulator: FedAvgAccumulator;
  clientLosses: number[];
  bytesUp: number;
  rejected: number;
  allAnswered: () => void;
}

export interface RunResult {
  runId: string;
  status: 'completed' | 'stopped';
  rounds: RoundRecord[];
  finalStudentAccuracy: number | null;
  studentParams: number;
}

function refusal(
  code: ErrorCode,
  message: string,
): { ok: false; error: { code: ErrorCode; message: string } } {
  return { ok: false, error: { code, message } };
}

export class Coordinator {
  readonly runId: string;
  private readonly clients = new Map<string, ConnectedClient>();
  private readonly model: tf.LayersModel;
  private readonly codec = createCodec();
  private globalWeights: Float32Array;
  private modelVersion = 0;
  private openRound: OpenRound | undefined;
  private nextRoundId = 1;
  private stopped = false;
  private resolveStop: () => void = () => undefined;
  private readonly stopRequested = new Promise<void>((resolve) => (this.resolveStop = resolve));
  private clientsChanged: (() => void) | undefined;
  private readonly history: RoundRecord[] = [];
  private readonly checkpoints: CheckpointWriter;
  private state: 'waiting' | 'training' | 'completed' | 'stopped' = 'waiting';

  constructor(private readonly parts: CoordinatorParts) {
    this.runId = parts.runId;
    this.checkpoints = parts.checkpoints;
    this.model = buildModel(parts.studentSpec, parts.config.seed);
    this.globalWeights = getFlatWeights(this.model);
    parts.store.createRun({
      id: this.runId,
      startedAt: Date.now(),
      config: {
        ...parts.config,
        tokens: parts.config.tokens.length > 0 ? '[set]' : '[none]',
        studentSpec: parts.studentSpec,
      },
      teacherHash: parts.teacherHash,
    });
    parts.hub.onConnection((link) => this.onConnection(link));
  }

  get studentModel(): tf.LayersModel {
    return this.model;
  }

  /** Bytes a new client downloads once: proxy inputs and soft labels. */
  get artifactBytes(): number {
    return this.parts.proxyInputs.bytes + this.parts.softLabels.bytes;
  }

  get studentParams(): number {
    return countParameters(this.model);
  }

  private readonly listeners = new Set<(event: CoordinatorEvent) => void>();

  /** Calls `listener` with every event from now on (dashboards, progress displays); returns an unsubscribe function. */
  subscribe(listener: (event: CoordinatorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: CoordinatorEvent): void {
    this.parts.onEvent?.(event);
    for (const listener of this.listeners) listener(event);
  }

  private notifyClientsChanged(): void {
    this.clientsChanged?.();
  }

  /** A snapshot for the status API and dashboards. */
  status(): Record<string, unknown> {
    const round = this.openRound;
    return {
      runId: this.runId,
      state: this.state,
      protocolVersion: PROTOCOL_VERSION,
      modelVersion: this.modelVersion,
      roundsCompleted: this.history.filter((r) => r.status === 'aggregated').length,
      roundsPlanned: this.parts.config.rounds,
      teacherAccuracy: this.parts.teacherTestAccuracy,
      connectedClients: this.clients.size,
      openRound: round
        ? {
            id: round.id,
            deadline: round.message.deadline,
            sampled: round.sampled.size,
            answered: round.answered.size,
          }
        : null,
    };
  }

  roundHistory(): RoundRecord[] {
    return [...this.history];
  }

  private onConnection(link: ClientLink): void {
    link.on('join', (request, ack) => {
      const reply = typeof ack === 'function' ? ack : () => undefined;
      try {
        reply(this.handleJoin(link, request));
      } catch (error) {
        reply(refusal('internal', (error as Error).message));
      }
    });
    link.on('update', (update, ack) => {
      const reply = typeof ack === 'function' ? ack : () => undefined;
      let response: UpdateResponse;
      try {
        response = this.handleUpdate(link, update);
      } catch (error) {
        response = refusal('internal', (error as Error).message);
      }
      reply(response);
    });
    link.onDisconnect(() => {
      const id = link.clientId;
      if (id && this.clients.get(id)?.link === link) {
        this.clients.delete(id);
        this.emit({ type: 'client:left', clientId: id });
        this.notifyClientsChanged();
      }
    });
  }

  private handleJoin(link: ClientLink, raw: unknown): JoinResponse {
    const parsed = joinRequestSchema.safeParse(raw);
    if (!parsed.success) {
      return refusal(
        'invalid-payload',
        `join: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    const request = parsed.data;
    if (this.state === 'completed' || this.state === 'stopped') {
      return refusal(
        'run-ended',
        `run ${this.runId} has ended (${this.state}); no more rounds will start`,
      );
    }
    const rejoin = request.clientId !== undefined;
    const clientId = request.clientId ?? randomUUID();
    const previous = this.clients.get(clientId);
    if (previous && previous.link !== link) previous.link.disconnect();
    link.clientId = clientId;
    this.clients.set(clientId, {
      link,
      platform: request.platform,
      backend: request.backend,
      numSamples: request.numSamples,
    });
    const now = Date.now();
    this.parts.store.upsertClient({
      id: clientId,
      runId: this.runId,
      name: request.name ?? null,
      platform: request.platform,
      backend: request.backend,
      numSamples: request.numSamples,
      firstSeen: now,
      lastSeen: now,
    });
    this.emit({
      type: 'client:joined',
      clientId,
      platform: request.platform,
      backend: request.backend,
      numSamples: request.numSamples,
      name: request.name ?? null,
      rejoin,
    });
    this.notifyClientsChanged();
    const round = this.openRound;
    const resume =
      round &&
      round.sampled.has(clientId) &&
      !round.answered.has(clientId) &&
      Date.now() < round.message.deadline
        ? round.message
        : undefined;
    return {
      ok: true,
      clientId,
      runId: this.runId,
      protocolVersion: PROTOCOL_VERSION,
      model: { spec: this.parts.studentSpec, numParams: this.globalWeights.length },
      proxyInputs: this.parts.proxyInputs,
      softLabels: this.parts.softLabels,
      ...(resume ? { round: resume } : {}),
    };
  }

  private reject(
    round: number,
    clientId: string,
    code: ErrorCode,
    message: string,
    bytes: number,
  ): UpdateResponse {
    this.parts.store.recordUpdate({
      runId: this.runId,
      round,
      clientId,
      status: 'rejected',
      reason: `${code}: ${message}`,
      numSamples: null,
      bytes,
      receivedAt: Date.now(),
    });
    if (this.openRound && this.openRound.id === round) this.openRound.rejected += 1;
    this.emit({ type: 'update:rejected', roundId: round, clientId, code, message });
    return refusal(code, message);
  }

  private handleUpdate(link: ClientLink, raw: unknown): UpdateResponse {
    const clientId = link.clientId;
    const bytes = this.codec.encode(raw).byteLength;
    const claimedRound =
      typeof raw === 'object' &&
      raw !== null &&
      Number.isInteger((raw as { roundId?: unknown }).roundId)
        ? (raw as { roundId: number }).roundId
        : 0;
    if (!clientId)
      return this.reject(
        claimedRound,
        '(unjoined)',
        'not-joined',
        'send join before update',
        bytes,
      );
    const parsed = updateSchema.safeParse(raw);
    if (!parsed.success) {
      return this.reject(
        claimedRound,
        clientId,
        'invalid-payload',
        parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
        bytes,
      );
    }
    const update = parsed.data;
    const round = this.openRound;
    if (!round || update.roundId !== round.id) {
      const code =
        round && update.roundId < round.id
          ? 'too-late'
          : !round && update.roundId < this.nextRoundId
            ? 'too-late'
            : 'wrong-round';
      return this.reject(
        update.roundId,
        clientId,
        code,
        `round ${update.roundId} is not open (open: ${round?.id ?? 'none'})`,
        bytes,
      );
    }
    if (Date.now() > round.message.deadline) {
      return this.reject(
        update.roundId,
        clientId,
        'too-late',
        `deadline of round ${round.id} has passed`,
        bytes,
      );
    }
    if (!round.sampled.has(clientId)) {
      return this.reject(
        update.roundId,
        clientId,
        'not-sampled',
        `client was not sampled in round ${round.id}`,
        bytes,
      );
    }
    if (round.answered.has(clientId)) {
      return this.reject(
        update.roundId,
        clientId,
        'duplicate',
        `client already sent an update in round ${round.id}`,
        bytes,
      );
    }
    if (update.modelVersion !== round.message.modelVersion) {
      return this.reject(
        update.roundId,
        clientId,
        'stale-model',
        `update is against model version ${update.modelVersion}, round ${round.id} uses ${round.message.modelVersion}`,
        bytes,
      );
    }
    let delta: Float32Array;
    try {
      delta = decodeWeights(update.delta, this.globalWeights.length);
      round.accumulator.add(delta, update.numSamples);
    } catch (error) {
      return this.reject(
        update.roundId,
        clientId,
        'rejected-weights',
        (error as Error).message,
        bytes,
      );
    }
    round.answered.add(clientId);
    round.bytesUp += bytes;
    round.clientLosses.push(update.metrics.loss);
    this.parts.store.recordUpdate({
      runId: this.runId,
      round: round.id,
      clientId,
      status: 'accepted',
      reason: null,
      numSamples: update.numSamples,
      bytes,
      receivedAt: Date.now(),
    });
    this.parts.store.addClientTraffic(this.runId, clientId, 0, bytes, true);
    this.emit({
      type: 'update:accepted',
      roundId: round.id,
      clientId,
      numSamples: update.numSamples,
      bytes,
    });
    if (round.answered.size === round.sampled.size) round.allAnswered();
    return { ok: true, roundId: round.id };
  }

  private async waitForClients(): Promise<string[]> {
    const { minClients, waitForClientsMs } = this.parts.config;
    const started = Date.now();
    while (!this.stopped) {
      const connected = [...this.clients.keys()];
      const waited = Date.now() - started;
      if (connected.length >= minClients || (connected.length > 0 && waited >= waitForClientsMs))
        return connected;
      this.emit({ type: 'waiting', connected: connected.length, needed: minClients });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(50, Math.min(1000, waitForClientsMs - waited)));
        this.clientsChanged = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.clientsChanged = undefined;
    }
    return [];
  }

  private async runRound(): Promise<RoundRecord | undefined> {
    const config = this.parts.config;
    const connected = await this.waitForClients();
    if (this.stopped) return undefined;
    const roundId = this.nextRoundId++;
    const sampled = sampleClients(
      connected,
      config.fraction,
      config.minClients,
      createRng(config.seed * 100_003 + roundId),
    );
    const startedAt = Date.now();
    const message: RoundStart = {
      roundId,
      modelVersion: this.modelVersion,
      deadline: startedAt + config.roundTimeoutMs,
      config: config.training,
      weights: encodeWeights(this.globalWeights, 'float32'),
    };
    const bytesDown = this.codec.encode(message).byteLength;
    let allAnswered: () => void = () => undefined;
    const answeredPromise = new Promise<void>((resolve) => (allAnswered = resolve));
    const round: OpenRound = {
      id: roundId,
      message,
      bytesDown,
      startedAt,
      sampled: new Set(sampled),
      answered: new Set(),
      accumulator: new FedAvgAccumulator(this.globalWeights.length),
      clientLosses: [],
      bytesUp: 0,
      rejected: 0,
      allAnswered,
    };
    this.openRound = round;
    this.state = 'training';
    for (const id of sampled) {
      this.clients.get(id)?.link.emit('round:start', message);
      this.parts.store.addClientTraffic(this.runId, id, bytesDown, 0, false);
    }
    this.emit({ type: 'round:started', roundId, sampled, deadline: message.deadline });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      answeredPromise,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, config.roundTimeoutMs))),
      this.stopRequested,
    ]);
    clearTimeout(timer);
    this.openRound = undefined;

    const needed = quorumSize(round.sampled.size, config.quorum);
    const participants = round.answered.size;
    const aggregated = participants >= needed;
    let studentAccuracy: number | null = null;
    let studentLoss: number | null = null;
    let agreement: number | null = null;
    if (aggregated) {
      const meanDelta = round.accumulator.result();
      const next = new Float32Array(this.globalWeights.length);
      for (let i = 0; i < next.length; i++) next[i] = this.globalWeights[i]! + meanDelta[i]!;
      this.globalWeights = next;
      this.modelVersion += 1;
      setFlatWeights(this.model, this.globalWeights);
      const result = evaluate(this.model, this.parts.test);
      studentAccuracy = result.accuracy;
      studentLoss = result.loss;
      let agree = 0;
      for (let i = 0; i < result.predictions.length; i++) {
        if (result.predictions[i] === this.parts.teacherTestPredictions[i]) agree += 1;
      }
      agreement = agree / Math.max(1, result.predictions.length);
      await this.checkpoints.save(this.model, roundId);
    }
    const endedAt = Date.now();
    const record: RoundRecord = {
      runId: this.runId,
      round: roundId,
      status: aggregated ? 'aggregated' : 'failed',
      startedAt,
      endedAt,
      modelVersion: this.modelVersion,
      sampled: round.sampled.size,
      participants,
      rejected: round.rejected,
      studentAccuracy,
      studentLoss,
      teacherAccuracy: this.parts.teacherTestAccuracy,
      agreement,
      bytesDownPerClient: bytesDown,
      bytesUpPerClient: participants > 0 ? round.bytesUp / participants : 0,
      durationMs: endedAt - startedAt,
      meanClientLoss:
        round.clientLosses.length > 0
          ? round.clientLosses.reduce((a, b) => a + b, 0) / round.clientLosses.length
          : null,
    };
    this.parts.store.recordRound(record);
    this.history.push(record);
    this.parts.hub.broadcast('round:end', {
      roundId,
      status: record.status,
      participants,
      ...(studentAccuracy !== null ? { studentAccuracy } : {}),
    });
    this.emit({ type: 'round:closed', record });
    return record;
  }

  /** Runs rounds until `config.rounds` have been aggregated, too many fail in a row, or `stop()`. */
  async run(): Promise<RunResult> {
    let failedInRow = 0;
    let aggregatedRounds = 0;
    while (!this.stopped && aggregatedRounds < this.parts.config.rounds) {
      const record = await this.runRound();
      if (!record) break;
      if (record.status === 'aggregated') {
        aggregatedRounds += 1;
        failedInRow = 0;
      } else if (++failedInRow >= this.parts.config.maxFailedRounds) {
        break;
      }
    }
    const status =
      !this.stopped && aggregatedRounds >= this.parts.config.rounds ? 'completed' : 'stopped';
    this.state = status;
    await this.checkpoints.exportFinal(this.model);
    this.parts.hub.broadcast('run:end', { runId: this.runId, reason: status });
    const last = [...this.history].reverse().find((r) => r.status === 'aggregated');
    const result: RunResult = {
      runId: this.runId,
      status,
      rounds: [...this.history],
      finalStudentAccuracy: last?.studentAccuracy ?? null,
      studentParams: this.studentParams,
    };
    return result;
  }

  /** True once `run()` has returned. */
  get finished(): boolean {
    return this.state === 'completed' || this.state === 'stopped';
  }

  /** Ends the run after the open round closes (early, with what has arrived). */
  stop(): void {
    this.stopped = true;
    this.resolveStop();
    this.clientsChanged?.();
  }

  dispose(): void {
    this.model.dispose();
  }
}
