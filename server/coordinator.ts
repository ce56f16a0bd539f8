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
import type { Aggregator } from '../shared/aggregation/index.js';
import { ServerOptimizer, createAggregator } from '../shared/aggregation/index.js';
import { createRng } from '../shared/data/index.js';
import type { LabeledData, ProxyData } from '../shared/data/types.js';
import type { ModelSpec } from '../shared/models/index.js';
import {
  buildModel,
  countParameters,
  getFlatWeights,
  setFlatWeights,
} from '../shared/models/index.js';
import { evaluate, trainLocal } from '../shared/training/index.js';
import { encodeSoftLabels } from '../shared/softLabels/index.js';
import { computeEpsilon } from '../shared/privacy/index.js';
import { createCodec, encodeWeights } from '../shared/codec/index.js';
import type {
  AbstainResponse,
  ArtifactRef,
  ErrorCode,
  JoinResponse,
  RoundStart,
  UpdateResponse,
} from '../shared/protocol/index.js';
import {
  PROTOCOL_VERSION,
  abstainSchema,
  joinRequestSchema,
  secAggUpSchema,
  updateSchema,
} from '../shared/protocol/index.js';
import { SecAggError } from '../shared/secureAggregation/index.js';
import type { SecAggErrorCode } from '../shared/secureAggregation/index.js';
import type { CoordinatorConfig } from './config.js';
import { recordableConfig, secureAggregationConflict } from './config.js';
import type { ClientHub, ClientLink } from './clientHub.js';
import type { RoundRecord, RunStore } from './store.js';
import { quorumSize, sampleClients } from './sampling.js';
import { StrikeCounter } from './strikes.js';
import { settleRejoinSecret } from './rejoinSecrets.js';
import { UnjoinedRefusals } from './refusalTally.js';
import type { CheckpointWriter } from './checkpoints.js';
import type { StrategyPlan } from './strategy.js';
import { blend, planFor, roundConfigFor, sharpen } from './strategy.js';
import { ContributionError, RoundContributions } from './roundContributions.js';
import { SecureAggregationRound } from './secureRound.js';
import type { BoundVerdict } from './robustness/index.js';
import { AccuracyGuard, UpdateBound, verifyDelta, verifyWeights } from './robustness/index.js';

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
  /** The client will take part in no round (its data do not fit the student, …); it is sampled no more. */
  | { type: 'client:abstained'; clientId: string; reason: string; message: string }
  /** Disconnected for sending more refused messages than `maxRefusals` within `refusalWindowMs`. */
  | { type: 'client:cut-off'; clientId: string | null; refusals: number }
  | { type: 'round:started'; roundId: number; sampled: string[]; deadline: number }
  | {
      type: 'update:accepted';
      roundId: number;
      clientId: string;
      numSamples: number;
      bytes: number;
    }
  | { type: 'update:rejected'; roundId: number; clientId: string; code: ErrorCode; message: string }
  /**
   * A secure round's aggregation ended: how many clients' masked deltas the sum holds (of
   * `sampled`, with threshold t), or why it could not be unmasked.
   */
  | {
      type: 'round:secure';
      roundId: number;
      sampled: number;
      threshold: number;
      survivors: number;
      error?: string;
    }
  /** In a secure round, `clientId` could not open the key shares that `about` sealed for it. */
  | { type: 'secure:complaint'; roundId: number; clientId: string; about: string[] }
  /** Excluded from the run: `accusers` different clients could not open its key shares. */
  | { type: 'client:excluded'; clientId: string; accusers: string[] }
  | { type: 'round:closed'; record: RoundRecord }
  | { type: 'run:ended'; status: 'completed' | 'stopped'; roundsAggregated: number }
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
  /**
   * The proxy inputs and the teacher's soft labels on them, as clients decode them.
   * Needed by strategies that work on the proxy set at the coordinator (feddf).
   */
  proxy?: ProxyData;
  /** Continue a run that was interrupted: its completed rounds and the student they produced. */
  resume?: ResumePoint;
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
  /** Sampled clients that abstained: answered, without an update. */
  abstained: Set<string>;
  contributions: RoundContributions;
  clientLosses: number[];
  bytesUp: number;
  rejected: number;
  allAnswered: () => void;
  /** Sampled clients that disconnected without answering, and when. */
  gone: Map<string, number>;
  graceTimers: Set<ReturnType<typeof setTimeout>>;
  /** Set when the round aggregates securely. */
  secure?: { round: SecureAggregationRound; setUp: Promise<void> };
}

/** Where an interrupted run picks up: everything its completed rounds left behind. */
export interface ResumePoint {
  rounds: RoundRecord[];
  /** The global student after the last aggregated round (its checkpoint); absent before any. */
  weights?: Float32Array;
}

export interface RunResult {
  runId: string;
  status: 'completed' | 'stopped';
  rounds: RoundRecord[];
  finalStudentAccuracy: number | null;
  studentParams: number;
}

const SECAGG_REFUSAL: Record<SecAggErrorCode, ErrorCode> = {
  phase: 'wrong-phase',
  'too-few': 'wrong-phase',
  duplicate: 'duplicate',
  'unknown-client': 'not-sampled',
  'bad-message': 'invalid-payload',
  overflow: 'invalid-payload',
  'bad-option': 'invalid-payload',
};

/** The client id refusals of a connection that has not joined are attributed to. */
const UNJOINED = '(unjoined)';

/** A schema's complaints about a payload, one `path: message` each, for an error ack. */
function describeIssues(error: {
  issues: readonly { path: PropertyKey[]; message: string }[];
}): string {
  return error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ');
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
  private readonly plan: StrategyPlan;
  private readonly aggregator: Aggregator | undefined;
  private readonly serverOptimizer: ServerOptimizer;
  private readonly numClasses: number;
  /** Logit exchange: the last round's consensus, sent with the next round. */
  private consensus: { indices: Int32Array; probs: Float32Array } | undefined;
  /** Rounds each client's update was aggregated in, for the privacy accountant. */
  private readonly participation = new Map<string, number>();
  /** FedDF: a second student to run each client's weights on the proxy set. */
  private scratchModel: tf.LayersModel | undefined;
  private state: 'waiting' | 'training' | 'completed' | 'stopped' = 'waiting';
  private readonly unjoinedRefusals: UnjoinedRefusals;
  /** Secure aggregation: who could not open whose key shares (accused → accusers), and who is out. */
  private readonly complaints = new Map<string, Set<string>>();
  private readonly excluded = new Set<string>();
  /** Every delta passes it before it is folded in (server/robustness/updateBound.ts). */
  private readonly updateBound: UpdateBound;
  private readonly accuracyGuard: AccuracyGuard;

  constructor(private readonly parts: CoordinatorParts) {
    this.runId = parts.runId;
    this.checkpoints = parts.checkpoints;
    this.unjoinedRefusals = new UnjoinedRefusals(parts.store, parts.runId);
    this.plan = planFor(parts.config.strategy);
    // FedAvg streams; the robust aggregators see every delta at once.
    this.aggregator =
      parts.config.aggregator.kind === 'fedavg'
        ? undefined
        : createAggregator(parts.config.aggregator);
    this.serverOptimizer = new ServerOptimizer(parts.config.serverOptimizer);
    this.numClasses = parts.studentSpec.numClasses;
    if (parts.config.secureAggregation) {
      const conflict = secureAggregationConflict(
        parts.config.strategy,
        parts.config.aggregator.kind,
      );
      if (conflict) throw new Error(conflict);
    }
    if (this.plan.distillsEnsemble && !parts.proxy) {
      throw new Error(
        `strategy ${parts.config.strategy} needs the proxy set at the coordinator (parts.proxy)`,
      );
    }
    this.updateBound = new UpdateBound(parts.config.updateBound);
    this.accuracyGuard = new AccuracyGuard(
      parts.config.modelGuard,
      parts.resume?.rounds.filter((r) => r.status === 'aggregated').at(-1)?.studentAccuracy,
    );
    this.model = buildModel(parts.studentSpec, parts.config.seed);
    this.globalWeights = getFlatWeights(this.model);
    if (parts.resume) {
      // Rounds that were open when the coordinator died are run again; completed ones stand.
      if (parts.resume.weights) {
        // Checkpoints hold verified models only; one from an older version may not be.
        const bad = verifyWeights(
          parts.resume.weights,
          this.globalWeights.length,
          parts.config.modelGuard,
        );
        if (bad) throw new Error(`resume: the last checkpoint fails the model guard: ${bad}`);
        setFlatWeights(this.model, parts.resume.weights);
        this.globalWeights = getFlatWeights(this.model);
      }
      this.history.push(...parts.resume.rounds);
      for (const update of parts.store.updates(parts.runId)) {
        if (update.status === 'accepted') {
          this.participation.set(
            update.clientId,
            (this.participation.get(update.clientId) ?? 0) + 1,
          );
        }
      }
      this.nextRoundId = (parts.resume.rounds.at(-1)?.round ?? 0) + 1;
      this.modelVersion = parts.resume.rounds.at(-1)?.modelVersion ?? 0;
    } else
      parts.store.createRun({
        id: this.runId,
        startedAt: Date.now(),
        config: { ...recordableConfig(parts.config), studentSpec: parts.studentSpec },
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
    const { maxRefusals, refusalWindowMs } = this.parts.config;
    const strikes = new StrikeCounter(maxRefusals, refusalWindowMs);
    // Every answer goes through here: a refusal counts against the connection.
    const answer = <T extends { ok: boolean }>(ack: unknown, response: T) => {
      if (typeof ack === 'function') (ack as (response: T) => void)(response);
      if (!response.ok && strikes.strike()) {
        this.emit({
          type: 'client:cut-off',
          clientId: link.clientId ?? null,
          refusals: maxRefusals + 1,
        });
        link.disconnect('cut-off');
      }
    };
    // Each handler's answer goes to the ack; a handler that throws is a refusal, never a crash.
    const serve =
      <T extends { ok: boolean }>(handle: (payload: unknown) => T) =>
      (payload: unknown, ack: unknown) => {
        let response: T | ReturnType<typeof refusal>;
        try {
          response = handle(payload);
        } catch (error) {
          response = refusal('internal', (error as Error).message);
        }
        answer(ack, response);
      };
    link.on(
      'join',
      serve((request) => this.handleJoin(link, request)),
    );
    link.on(
      'update',
      serve((update) => this.handleUpdate(link, update)),
    );
    link.on(
      'secagg',
      serve((message) => this.handleSecAgg(link, message)),
    );
    link.on(
      'abstain',
      serve((message) => this.handleAbstain(link, message)),
    );
    link.onDisconnect(() => {
      const id = link.clientId;
      if (id && this.clients.get(id)?.link === link) {
        this.clients.delete(id);
        this.emit({ type: 'client:left', clientId: id });
        this.notifyClientsChanged();
        this.noteGone(id);
      }
    });
  }

  private handleJoin(link: ClientLink, raw: unknown): JoinResponse {
    const parsed = joinRequestSchema.safeParse(raw);
    if (!parsed.success) {
      return refusal('invalid-payload', `join: ${describeIssues(parsed.error)}`);
    }
    const request = parsed.data;
    if (this.state === 'completed' || this.state === 'stopped') {
      return refusal(
        'run-ended',
        `run ${this.runId} has ended (${this.state}); no more rounds will start`,
      );
    }
    if (request.clientId === UNJOINED)
      return refusal('invalid-payload', `join: clientId ${UNJOINED} is reserved`);
    if (request.clientId !== undefined && this.excluded.has(request.clientId)) {
      return refusal(
        'unauthorized',
        `client ${request.clientId} is excluded from run ${this.runId}: other clients could not open its key shares`,
      );
    }
    const rejoin = request.clientId !== undefined;
    const clientId = request.clientId ?? randomUUID();
    // Checked before anything changes: a refused join must not close the real client's connection.
    const secret = settleRejoinSecret(
      rejoin ? this.parts.store.rejoinSecretHash(this.runId, clientId) : undefined,
      request.rejoinSecret,
      link.tokenName !== undefined,
    );
    if (!secret) {
      return refusal(
        'unauthorized',
        `client id ${clientId} is taken: a rejoin must present the rejoinSecret its first join was given`,
      );
    }
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
    if (secret.newHash) this.parts.store.setRejoinSecretHash(this.runId, clientId, secret.newHash);
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
        ? this.roundStartFor(round, clientId)
        : undefined;
    if (round?.secure && round.sampled.has(clientId)) {
      // After the join's ack: the step message it may have missed while away (even after its
      // masked input: the unmask step needs it too).
      const secure = round.secure.round;
      setImmediate(() => secure.resend(clientId));
    }
    return {
      ok: true,
      clientId,
      rejoinSecret: secret.secret,
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
    // A joined client's refusals are its record; an unjoined peer's are only counted (refusalTally.ts).
    if (clientId === UNJOINED) this.unjoinedRefusals.count(code, bytes);
    else
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
    const bytes = link.lastMessageBytes ?? this.codec.encode(raw).byteLength;
    const claimedRound =
      typeof raw === 'object' &&
      raw !== null &&
      Number.isInteger((raw as { roundId?: unknown }).roundId)
        ? (raw as { roundId: number }).roundId
        : 0;
    if (!clientId)
      return this.reject(claimedRound, UNJOINED, 'not-joined', 'send join before update', bytes);
    const parsed = updateSchema.safeParse(raw);
    if (!parsed.success) {
      return this.reject(
        claimedRound,
        clientId,
        'invalid-payload',
        describeIssues(parsed.error),
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
    if (
      round.secure
        ? update.masked === undefined || update.delta !== undefined
        : update.masked !== undefined
    ) {
      return this.reject(
        update.roundId,
        clientId,
        'invalid-payload',
        round.secure
          ? `round ${round.id} aggregates securely: send a masked input, not a delta`
          : `round ${round.id} does not aggregate securely: a masked input cannot apply`,
        bytes,
      );
    }
    let verdict: BoundVerdict | undefined;
    try {
      if (round.secure) round.secure.round.receiveMasked(clientId, update.masked!, update.session);
      else
        round.contributions.add(update, (delta) => {
          verdict = this.updateBound.check(delta);
          if (verdict.action === 'refuse')
            throw new ContributionError(`update bound: ${verdict.reason}`, 'rejected-weights');
          return verdict.delta!;
        });
    } catch (error) {
      const code =
        error instanceof ContributionError
          ? error.code
          : error instanceof SecAggError
            ? SECAGG_REFUSAL[error.code]
            : 'rejected-weights';
      return this.reject(update.roundId, clientId, code, (error as Error).message, bytes);
    }
    if (verdict) this.updateBound.accepted(verdict);
    round.answered.add(clientId);
    round.bytesUp += bytes;
    round.clientLosses.push(update.metrics.loss);
    this.parts.store.recordUpdate({
      runId: this.runId,
      round: round.id,
      clientId,
      status: 'accepted',
      // Set when the update bound clipped it: what was folded in is not what was sent.
      reason: verdict?.reason ?? null,
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
    this.closeIfSettled(round);
    return { ok: true, roundId: round.id };
  }

  /**
   * A joined client takes no part in the run: in the open round it counts as answered without an
   * update (the round need not wait for it), and it is sampled no more. Recorded like a refusal.
   */
  private handleAbstain(link: ClientLink, raw: unknown): AbstainResponse {
    const clientId = link.clientId;
    if (!clientId) return refusal('not-joined', 'abstain: send join first');
    const parsed = abstainSchema.safeParse(raw);
    if (!parsed.success)
      return refusal('invalid-payload', `abstain: ${describeIssues(parsed.error)}`);
    const { reason, message } = parsed.data;
    // Once per connection: a repeat is refused (and counts against it), so it cannot fill SQLite.
    if (this.clients.get(clientId)?.link !== link)
      return refusal('duplicate', 'abstain: this connection has abstained already');
    this.clients.delete(clientId);
    this.notifyClientsChanged();
    const round = this.openRound;
    this.parts.store.recordUpdate({
      runId: this.runId,
      round: round?.id ?? 0,
      clientId,
      status: 'rejected',
      reason: `abstained: ${reason}: ${message}`,
      numSamples: null,
      bytes: link.lastMessageBytes ?? 0,
      receivedAt: Date.now(),
    });
    this.emit({ type: 'client:abstained', clientId, reason, message });
    if (round && round.sampled.has(clientId) && !round.answered.has(clientId)) {
      round.abstained.add(clientId);
      this.closeIfSettled(round);
    }
    return { ok: true };
  }

  /** A sampled client of the open round left without answering: give it `dropGraceMs` to rejoin. */
  private noteGone(clientId: string): void {
    const round = this.openRound;
    if (!round || !round.sampled.has(clientId) || round.answered.has(clientId)) return;
    round.gone.set(clientId, Date.now());
    const timer = setTimeout(() => {
      round.graceTimers.delete(timer);
      this.closeIfSettled(round);
    }, this.parts.config.dropGraceMs + 5);
    round.graceTimers.add(timer);
  }

  /**
   * Ends the wait for updates once every sampled client has answered, or has been disconnected
   * for at least `dropGraceMs`: nobody left could still answer in time.
   */
  private closeIfSettled(round: OpenRound): void {
    const now = Date.now();
    // A secure round waits only for the clients that can still send a masked input.
    const awaited = round.secure ? round.secure.round.awaitedInputs() : round.sampled;
    for (const id of awaited) {
      if (round.answered.has(id) || round.abstained.has(id) || this.excluded.has(id)) continue;
      const since = round.gone.get(id);
      const away = since !== undefined && !this.clients.has(id);
      if (!away || now - since < this.parts.config.dropGraceMs) return;
    }
    round.allAnswered();
  }

  /** A secure-aggregation step message (keys, shares, reveal) from a sampled client. */
  private handleSecAgg(link: ClientLink, raw: unknown): UpdateResponse {
    const clientId = link.clientId;
    const bytes = link.lastMessageBytes ?? this.codec.encode(raw).byteLength;
    const parsed = secAggUpSchema.safeParse(raw);
    const claimedRound = parsed.success ? parsed.data.roundId : 0;
    const reject = (code: ErrorCode, message: string) =>
      this.reject(claimedRound, clientId ?? UNJOINED, code, `secagg: ${message}`, bytes);
    if (!clientId) return reject('not-joined', 'send join first');
    if (!parsed.success) {
      return reject('invalid-payload', describeIssues(parsed.error));
    }
    const message = parsed.data;
    const round = this.openRound;
    if (!round || round.id !== message.roundId)
      return reject(
        message.roundId < (round?.id ?? this.nextRoundId) ? 'too-late' : 'wrong-round',
        `round ${message.roundId} is not open (open: ${round?.id ?? 'none'})`,
      );
    if (!round.secure)
      return reject('wrong-phase', `round ${round.id} does not aggregate securely`);
    if (!round.sampled.has(clientId))
      return reject('not-sampled', `client was not sampled in round ${round.id}`);
    try {
      const accused = round.secure.round.receive(clientId, message);
      if (accused.length > 0) {
        this.noteComplaint(round.id, clientId, accused);
        this.closeIfSettled(round);
      }
    } catch (error) {
      if (!(error instanceof SecAggError)) throw error;
      // The refusal may have been a withdrawal (keys after the key step): maybe nobody is left.
      this.closeIfSettled(round);
      return reject(SECAGG_REFUSAL[error.code], `${message.step}: ${error.message}`);
    }
    round.bytesUp += bytes;
    this.parts.store.addClientTraffic(this.runId, clientId, 0, bytes, false);
    return { ok: true, roundId: round.id };
  }

  /**
   * Complaints cannot be checked (only the two ends of a pairwise channel can open it), so one
   * never excludes anyone: `excludeAfterComplaints` different accusers do.
   */
  private noteComplaint(roundId: number, accuser: string, accused: string[]): void {
    this.emit({ type: 'secure:complaint', roundId, clientId: accuser, about: accused });
    const needed = this.parts.config.secureAggregation?.excludeAfterComplaints ?? 2;
    for (const clientId of accused) {
      const accusers = this.complaints.get(clientId) ?? new Set<string>();
      accusers.add(accuser);
      this.complaints.set(clientId, accusers);
      if (accusers.size < needed || this.excluded.has(clientId)) continue;
      this.excluded.add(clientId);
      this.emit({ type: 'client:excluded', clientId, accusers: [...accusers] });
      this.clients.get(clientId)?.link.disconnect('cut-off');
    }
  }

  /** The round:start a client gets: secure rounds add its own id and weight. */
  private roundStartFor(round: OpenRound, clientId: string): RoundStart {
    return round.secure
      ? { ...round.message, secureAggregation: round.secure.round.startFor(clientId) }
      : round.message;
  }

  private async waitForClients(): Promise<string[]> {
    const { minClients, waitForClientsMs } = this.parts.config;
    // Past the wait a round starts with whoever is there — but a secure sum needs two at least:
    // one client's "sum" is its own update.
    const fewest = this.parts.config.secureAggregation ? 2 : 1;
    const started = Date.now();
    while (!this.stopped) {
      const connected = [...this.clients.keys()];
      const waited = Date.now() - started;
      if (
        connected.length >= minClients ||
        (connected.length >= fewest && waited >= waitForClientsMs)
      )
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
    const plan = this.plan;
    const predictIndices = plan.exchangesLogits ? this.proxySample(roundId) : undefined;
    const consensus = this.consensus;
    const message: RoundStart = {
      roundId,
      modelVersion: this.modelVersion,
      deadline: startedAt + config.roundTimeoutMs,
      config: roundConfigFor(
        plan,
        config.training,
        config.logitExchange.consensusWeight,
        config.privacy,
      ),
      ...(plan.sendsWeights ? { weights: encodeWeights(this.globalWeights, 'float32') } : {}),
      ...(predictIndices ? { predict: { indices: predictIndices } } : {}),
      ...(consensus
        ? {
            consensus: {
              indices: consensus.indices,
              probs: encodeSoftLabels(consensus.probs, {
                numClasses: this.numClasses,
                precision: 'float16',
              }),
            },
          }
        : {}),
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
      abstained: new Set(),
      contributions: new RoundContributions({
        plan,
        global: this.globalWeights,
        numClasses: this.numClasses,
        ...(predictIndices ? { predictIndices } : {}),
        ...(this.aggregator ? { aggregator: this.aggregator } : {}),
        ...(plan.distillsEnsemble ? { ensemble: this.ensembleInputs() } : {}),
      }),
      clientLosses: [],
      bytesUp: 0,
      rejected: 0,
      allAnswered,
      gone: new Map(),
      graceTimers: new Set(),
    };
    const secureConfig = config.secureAggregation;
    if (secureConfig && plan.sendsWeights) {
      const secure = new SecureAggregationRound({
        session: `${this.runId}/${roundId}@${message.deadline}`,
        roundId,
        members: sampled.map((clientId) => ({
          clientId,
          numSamples: this.clients.get(clientId)?.numSamples ?? 0,
        })),
        thresholdFraction: secureConfig.threshold,
        scale: secureConfig.scale,
        length: this.globalWeights.length,
        phaseTimeoutMs: secureConfig.phaseTimeoutMs,
        send: (clientId, step) => this.clients.get(clientId)?.link.emit('secagg', step),
      });
      const setUp = secure.setUp();
      // Too few clients took part in the key steps: nothing can be unmasked, end the round now.
      // Otherwise the clients left out of the share step need not be waited for.
      setUp.then(
        () => this.closeIfSettled(round),
        () => allAnswered(),
      );
      round.secure = { round: secure, setUp };
    }
    this.updateBound.openRound();
    this.openRound = round;
    this.state = 'training';
    for (const id of sampled) {
      this.clients.get(id)?.link.emit('round:start', this.roundStartFor(round, id));
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
    for (const graceTimer of round.graceTimers) clearTimeout(graceTimer);
    // The unmask step still needs the survivors' messages: the round stays open for them.
    const secureDelta = round.secure ? await this.finishSecure(round) : undefined;
    this.openRound = undefined;

    const needed = quorumSize(round.sampled.size, config.quorum);
    const participants = round.secure ? (secureDelta?.survivors ?? 0) : round.answered.size;
    let aggregated = participants >= needed && (!round.secure || secureDelta !== undefined);
    let studentAccuracy: number | null = null;
    let studentLoss: number | null = null;
    let agreement: number | null = null;
    /** Why a round with its quorum failed anyway (its result refused); the global model stands. */
    let note: string | null = null;
    if (aggregated && plan.sendsWeights) {
      // The new model replaces the global one only once it is checked: finite, bounded, and (with
      // the accuracy guard) not a collapse. Anything thrown on the way fails this round only.
      const length = this.globalWeights.length;
      const optimizerState = this.serverOptimizer.snapshot();
      try {
        const delta = secureDelta?.meanDelta ?? round.contributions.aggregateDelta();
        const badDelta = verifyDelta(delta, length);
        if (badDelta) throw new Error(`model guard: ${badDelta}`);
        let next = this.serverOptimizer.step(this.globalWeights, delta);
        if (plan.distillsEnsemble)
          next = await this.distillEnsemble(next, round.contributions, roundId);
        const badWeights = verifyWeights(next, length, config.modelGuard);
        if (badWeights) throw new Error(`model guard: ${badWeights}`);
        setFlatWeights(this.model, next);
        const result = evaluate(this.model, this.parts.test);
        const collapse = this.accuracyGuard.judge(result.accuracy);
        if (collapse)
          throw new Error(`accuracy guard: ${collapse}; rolled back to the last good model`);
        this.globalWeights = next;
        this.modelVersion += 1;
        studentAccuracy = result.accuracy;
        studentLoss = result.loss;
        let agree = 0;
        for (let i = 0; i < result.predictions.length; i++) {
          if (result.predictions[i] === this.parts.teacherTestPredictions[i]) agree += 1;
        }
        agreement = agree / Math.max(1, result.predictions.length);
        await this.checkpoints.save(this.model, roundId);
      } catch (error) {
        aggregated = false;
        note = (error as Error).message;
        // Momentum that absorbed the refused delta would carry it into every later round.
        this.serverOptimizer.restore(optimizerState);
        // The student model may hold the refused weights (evaluation, FedDF): put the last good ones back.
        setFlatWeights(this.model, this.globalWeights);
      }
    } else if (aggregated) {
      // No global model: the clients' own models are the students; report their mean accuracy.
      const accuracies = round.contributions.validationAccuracies;
      studentAccuracy =
        accuracies.length > 0 ? accuracies.reduce((a, b) => a + b, 0) / accuracies.length : null;
      const mean = round.contributions.meanPredictions();
      if (mean && predictIndices) {
        const { sharpenTemperature } = config.logitExchange;
        const probs =
          config.strategy === 'dsfl' ? sharpen(mean, this.numClasses, sharpenTemperature) : mean;
        this.consensus = { indices: predictIndices, probs };
      }
      this.modelVersion += 1;
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
      privacyEpsilon: aggregated
        ? this.accountPrivacy(round.answered)
        : (this.history.at(-1)?.privacyEpsilon ?? null),
      note,
    };
    this.updateBound.closeRound(aggregated);
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

  /**
   * Closes a secure round's aggregation: the masked inputs that arrived, the unmask step,
   * the mean delta of the survivors. Undefined when too few clients stayed to unmask it.
   */
  private async finishSecure(
    round: OpenRound,
  ): Promise<{ meanDelta: Float32Array; survivors: number } | undefined> {
    const secure = round.secure!;
    if (this.stopped) secure.round.abort();
    const report = {
      type: 'round:secure' as const,
      roundId: round.id,
      sampled: round.sampled.size,
      threshold: secure.round.threshold,
    };
    try {
      await secure.setUp;
      const result = await secure.round.finish();
      this.emit({ ...report, survivors: result.survivors.length });
      return { meanDelta: result.meanDelta, survivors: result.survivors.length };
    } catch (error) {
      // Too few clients (SecAggError) or anything unforeseen: this round fails, the run goes on.
      this.emit({ ...report, survivors: 0, error: (error as Error).message });
      return undefined;
    }
  }

  /**
   * ε spent so far by the client that has taken part most often. The
   * coordinator sees each noised update, and replacing one client's data moves
   * its clipped update by up to 2C, so each round it takes part in is a
   * Gaussian mechanism with noise multiplier σ/2 (docs/reliability.md). No
   * amplification by sampling is claimed: clients are not Poisson-sampled.
   */
  private accountPrivacy(answered: Set<string>): number | null {
    const privacy = this.parts.config.privacy;
    if (!privacy || !this.plan.sendsWeights) return null;
    for (const id of answered) this.participation.set(id, (this.participation.get(id) ?? 0) + 1);
    const steps = Math.max(0, ...this.participation.values());
    if (privacy.noiseMultiplier === 0) return Number.POSITIVE_INFINITY;
    return computeEpsilon({
      noiseMultiplier: privacy.noiseMultiplier / 2,
      samplingRate: 1,
      steps,
      delta: privacy.delta,
    }).epsilon;
  }

  /** Logit exchange: the proxy samples clients predict on in a round (seeded, sorted). */
  private proxySample(roundId: number): Int32Array {
    const total = this.parts.proxy?.count ?? this.parts.config.logitExchange.samples;
    const count = Math.min(this.parts.config.logitExchange.samples, total);
    const order = createRng(this.parts.config.seed * 7_919 + roundId).shuffle(
      Int32Array.from({ length: total }, (_, i) => i),
    );
    return order.slice(0, count).sort();
  }

  private ensembleInputs(): NonNullable<
    ConstructorParameters<typeof RoundContributions>[0]['ensemble']
  > {
    const proxy = this.parts.proxy!;
    this.scratchModel ??= buildModel(this.parts.studentSpec, this.parts.config.seed);
    return {
      model: this.scratchModel,
      proxyX: proxy.x,
      proxyCount: proxy.count,
      temperature: this.parts.config.training.temperature,
    };
  }

  /**
   * FedDF (Lin et al. 2020): after averaging, train the global student on the
   * proxy set towards the clients' ensemble (blended with the teacher), so
   * knowledge that averaging loses between non-IID clients is put back.
   */
  private async distillEnsemble(
    averaged: Float32Array,
    contributions: RoundContributions,
    roundId: number,
  ): Promise<Float32Array> {
    const proxy = this.parts.proxy!;
    const ensemble = contributions.ensembleMean();
    if (!ensemble) return averaged;
    const { epochs, learningRate, teacherWeight } = this.parts.config.ensembleDistillation;
    const targets = blend(proxy.softLabels, ensemble, teacherWeight);
    const labels = new Int32Array(proxy.count);
    for (let r = 0; r < proxy.count; r++) {
      let best = 0;
      for (let c = 1; c < this.numClasses; c++) {
        if (targets[r * this.numClasses + c]! > targets[r * this.numClasses + best]!) best = c;
      }
      labels[r] = best;
    }
    setFlatWeights(this.model, averaged);
    // α = 0: only the soft term trains; the labels (the targets' argmax) only feed training accuracy.
    await trainLocal({
      model: this.model,
      spec: this.parts.studentSpec,
      data: { x: proxy.x, y: labels, count: proxy.count },
      proxy: { x: proxy.x, softLabels: targets, count: proxy.count },
      config: {
        epochs,
        batchSize: this.parts.config.training.batchSize,
        learningRate,
        temperature: this.parts.config.training.temperature,
        alpha: 0,
        optimizer: 'adam',
      },
      seed: roundId,
    });
    return getFlatWeights(this.model);
  }

  /** Runs rounds until `config.rounds` have been aggregated, too many fail in a row, or `stop()`. */
  async run(): Promise<RunResult> {
    let failedInRow = 0;
    let aggregatedRounds = this.history.filter((r) => r.status === 'aggregated').length;
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
    this.unjoinedRefusals.flush();
    this.parts.store.finishRun(this.runId, status, { roundsAggregated: aggregatedRounds });
    this.emit({ type: 'run:ended', status, roundsAggregated: aggregatedRounds });
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
    this.unjoinedRefusals.flush();
    this.model.dispose();
    this.scratchModel?.dispose();
  }
}
