/**
 * The coordinator's run loop and round lifecycle: wait for clients, sample,
 * let the run's strategy configure the round, send it, collect updates until
 * the deadline or the last answer, let the strategy aggregate under the quorum
 * rule, evaluate, checkpoint, record — then again.
 *
 * Each concern has its own module under server/coordinator/: membership (who
 * is in), intake (checking and recording every update), the open round's
 * state, the round's outcome (evaluation, checkpoint, record) and the
 * per-connection refusal plumbing. What moves in a round is the strategy's
 * (server/strategies/), with differential privacy and secure aggregation
 * composed around it.
 */
import type * as tf from '@tensorflow/tfjs';
import { createRng, deriveSeed } from '../shared/data/index.js';
import type { LabeledData, ProxyData } from '../shared/data/types.js';
import type { ModelSpec } from '../shared/models/index.js';
import {
  buildModel,
  countParameters,
  getFlatWeights,
  setFlatWeights,
} from '../shared/models/index.js';
import { createCodec } from '../shared/codec/index.js';
import type { ArtifactRef, JoinResponse, RoundStart } from '../shared/protocol/index.js';
import { PROTOCOL_VERSION, joinRequestSchema } from '../shared/protocol/index.js';
import type { CoordinatorConfig } from './config.js';
import { recordableConfig, secureAggregationConflict } from './config.js';
import type { ClientHub, ClientLink } from './clientHub.js';
import type { RoundRecord, RunStore } from './store.js';
import { quorumSize, sampleClients } from './sampling.js';
import { UnjoinedRefusals } from './refusalTally.js';
import type { CheckpointWriter } from './checkpoints.js';
import type { TeacherFeaturesRef } from './teacherFeatures.js';
import type {
  AcceptNote,
  RoundAggregate,
  ScreenedDelta,
  SecureAggregationHooks,
  Strategy,
} from './strategies/index.js';
import {
  ContributionError,
  DifferentiallyPrivateStrategy,
  SecurelyAggregatedStrategy,
  getStrategy,
} from './strategies/index.js';
import type { CoordinatorEvent, ResumePoint, RunResult } from './coordinator/events.js';
import { Membership, MembershipRefusal } from './coordinator/membership.js';
import { UpdateIntake } from './coordinator/intake.js';
import { OpenRound } from './coordinator/openRound.js';
import { AsynchronousRounds } from './coordinator/asynchronousRounds.js';
import { RoundOutcomes } from './coordinator/roundOutcome.js';
import type { StudentEvaluation } from './coordinator/roundOutcome.js';
import { serveConnection } from './coordinator/connection.js';
import { AccuracyGuard, UpdateBound, verifyWeights } from './robustness/index.js';
import type { BoundVerdict } from './robustness/index.js';
import { describeIssues, refusal } from './coordinator/refusals.js';

export type { CoordinatorEvent, ResumePoint, RunResult } from './coordinator/events.js';

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
   * The run's class names by label index, where its data name them (image class folders):
   * in the status API, so a client with a folder lacking a class can take the run's indices
   * (`fedistill join --classes`).
   */
  classNames?: readonly string[];
  /** The teacher's features on the proxy set, when the run's distillation terms need them. */
  teacherFeatures?: TeacherFeaturesRef;
  /**
   * The proxy inputs and the teacher's soft labels on them, as clients decode them.
   * Needed by strategies that work on the proxy set at the coordinator (feddf).
   */
  proxy?: ProxyData;
  /** Continue a run that was interrupted: its completed rounds and the student they produced. */
  resume?: ResumePoint;
  onEvent?: (event: CoordinatorEvent) => void;
  /**
   * Wraps the run's strategy (edges aggregate it from partial sums: server/edges/). With
   * secure aggregation the wrapper runs it itself, per edge group, with `secure`'s hooks for the
   * master's own group; differential privacy goes around the result.
   */
  wrapStrategy?: (strategy: Strategy, secure: SecureAggregationHooks) => Strategy;
}

export class Coordinator {
  readonly runId: string;
  private readonly model: tf.LayersModel;
  private readonly codec = createCodec();
  private readonly strategy: Strategy;
  private readonly membership: Membership;
  private readonly intake: UpdateIntake;
  private readonly outcomes: RoundOutcomes;
  private readonly unjoinedRefusals: UnjoinedRefusals;
  private readonly listeners = new Set<(event: CoordinatorEvent) => void>();
  private globalWeights: Float32Array;
  private modelVersion = 0;
  private openRound: OpenRound | undefined;
  private nextRoundId = 1;
  private stopped = false;
  private resolveStop: () => void = () => undefined;
  private readonly stopRequested = new Promise<void>((resolve) => (this.resolveStop = resolve));
  private readonly history: RoundRecord[] = [];
  private state: 'waiting' | 'training' | 'completed' | 'stopped' = 'waiting';
  /** Every client's delta passes it before it is folded in (server/robustness/updateBound.ts). */
  private readonly updateBound: UpdateBound;
  /** Rolls back a round whose student's accuracy collapses (`modelGuard.maxAccuracyDrop`). */
  private readonly accuracyGuard: AccuracyGuard;
  /** The verdict of the delta being accepted right now (set by screenDelta, read by settleScreen). */
  private screened: BoundVerdict | undefined;
  /** Strategies with asynchronous rounds (fedbuff): coordinator/asynchronousRounds.ts. */
  private readonly asynchronous: AsynchronousRounds | undefined;

  constructor(private readonly parts: CoordinatorParts) {
    const { config, store } = parts;
    this.runId = parts.runId;
    this.unjoinedRefusals = new UnjoinedRefusals(store, parts.runId);
    if (config.secureAggregation) {
      const conflict = secureAggregationConflict(config.strategy, config.aggregator.kind);
      if (conflict) throw new Error(conflict);
    }
    this.strategy = this.createStrategy();
    this.asynchronous = this.strategy.capabilities.asynchronous
      ? new AsynchronousRounds({
          runId: parts.runId,
          store,
          codec: this.codec,
          answerWithinMs: config.roundTimeoutMs,
          linkOf: (clientId) => this.membership.get(clientId)?.link,
          openRound: () => this.openRound,
          modelVersion: () => this.modelVersion,
          finished: () => this.finished,
          intake: (link, raw, bytes) => this.intake.update(link, raw, bytes),
          refuse: (link, raw, code, message, bytes) =>
            this.intake.refuseUpdate(link, raw, code, message, bytes),
          fault: (where, error) => this.fault(where, error),
        })
      : undefined;
    this.updateBound = new UpdateBound(config.updateBound);
    this.accuracyGuard = new AccuracyGuard(
      config.modelGuard,
      parts.resume?.rounds.filter((r) => r.status === 'aggregated').at(-1)?.studentAccuracy,
    );
    this.model = buildModel(parts.studentSpec, config.seed);
    this.globalWeights = getFlatWeights(this.model);
    if (parts.resume) {
      // Rounds that were open when the coordinator died are run again; completed ones stand.
      if (parts.resume.weights) {
        // Checkpoints hold verified models only; one written by an older version may not be.
        const bad = verifyWeights(
          parts.resume.weights,
          this.globalWeights.length,
          config.modelGuard,
        );
        if (bad) throw new Error(`resume: the last checkpoint fails the model guard: ${bad}`);
        setFlatWeights(this.model, parts.resume.weights);
        this.globalWeights = getFlatWeights(this.model);
      }
      this.history.push(...parts.resume.rounds);
      this.nextRoundId = (parts.resume.rounds.at(-1)?.round ?? 0) + 1;
      this.modelVersion = parts.resume.rounds.at(-1)?.modelVersion ?? 0;
    } else
      store.createRun({
        id: this.runId,
        startedAt: Date.now(),
        config: { ...recordableConfig(config), studentSpec: parts.studentSpec },
        teacherHash: parts.teacherHash,
      });
    this.membership = new Membership(parts.runId, store, (event) => this.emit(event));
    this.intake = new UpdateIntake({
      runId: parts.runId,
      store,
      codec: this.codec,
      unjoined: this.unjoinedRefusals,
      emit: (event) => this.emit(event),
      openRound: () => this.openRound,
      nextRoundId: () => this.nextRoundId,
      recheck: (round) => this.recheck(round),
      settleScreen: (accepted) => this.settleScreen(accepted),
      withdraw: (link) => this.membership.withdraw(link),
      complaint: (roundId, accuser, accused) =>
        this.membership.noteComplaint(
          roundId,
          accuser,
          accused,
          config.secureAggregation?.excludeAfterComplaints ?? 2,
        ),
      ...(this.asynchronous
        ? {
            arrival: this.asynchronous.arrival.bind(this.asynchronous),
            answered: this.asynchronous.answered.bind(this.asynchronous),
          }
        : {}),
    });
    this.outcomes = new RoundOutcomes({
      runId: parts.runId,
      store,
      checkpoints: parts.checkpoints,
      test: parts.test,
      teacherTestPredictions: parts.teacherTestPredictions,
      teacherTestAccuracy: parts.teacherTestAccuracy,
    });
    parts.hub.onConnection((link) =>
      serveConnection(
        link,
        {
          join: (l, payload) => this.handleJoin(l, payload),
          update: (l, payload) =>
            this.asynchronous?.update(l, payload) ?? this.intake.update(l, payload),
          secagg: (l, payload) => this.intake.secAgg(l, payload),
          abstain: (l, payload) => this.intake.abstain(l, payload),
          disconnect: (l) => this.handleDisconnect(l),
        },
        config,
        (event) => this.emit(event),
      ),
    );
  }

  /** The run's strategy from the registry, with differential privacy and secure aggregation around it. */
  private createStrategy(): Strategy {
    const { config, studentSpec, proxy } = this.parts;
    const definition = getStrategy(config.strategy);
    if (definition.capabilities.needsProxyAtCoordinator && !proxy)
      throw new Error(
        `strategy ${config.strategy} needs the proxy set at the coordinator (parts.proxy)`,
      );
    let strategy: Strategy = definition.create({
      config,
      studentSpec,
      numClasses: studentSpec.numClasses,
      proxyCount: proxy?.count ?? config.logitExchange.samples,
      ...(proxy ? { proxy } : {}),
    });
    const secure: SecureAggregationHooks = {
      send: (clientId, step) => this.membership.get(clientId)?.link.emit('secagg', step),
      onOutcome: (outcome) => this.emit({ type: 'round:secure', ...outcome }),
    };
    if (this.parts.wrapStrategy) strategy = this.parts.wrapStrategy(strategy, secure);
    else if (config.secureAggregation)
      strategy = new SecurelyAggregatedStrategy(strategy, config.secureAggregation, secure);
    if (config.privacy) {
      // A resumed run's privacy spent so far: every update it accepted.
      const participation = new Map<string, number>();
      if (this.parts.resume)
        for (const update of this.parts.store.updates(this.parts.runId))
          if (update.status === 'accepted')
            participation.set(update.clientId, (participation.get(update.clientId) ?? 0) + 1);
      strategy = new DifferentiallyPrivateStrategy(strategy, config.privacy, participation);
    }
    return strategy;
  }

  get studentModel(): tf.LayersModel {
    return this.model;
  }

  /** Bytes a new client downloads once: proxy inputs, soft labels and any teacher features. */
  get artifactBytes(): number {
    const { proxyInputs, softLabels, teacherFeatures } = this.parts;
    return proxyInputs.bytes + softLabels.bytes + (teacherFeatures?.bytes ?? 0);
  }

  get studentParams(): number {
    return countParameters(this.model);
  }

  /** Calls `listener` with every event from now on (dashboards, progress displays); returns an unsubscribe function. */
  subscribe(listener: (event: CoordinatorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: CoordinatorEvent): void {
    this.parts.onEvent?.(event);
    for (const listener of this.listeners) listener(event);
  }

  /** A step outside any handler's guard threw: a `coordinator:fault` event, itself guarded. */
  private fault(where: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    try {
      this.emit({ type: 'coordinator:fault', where, message });
    } catch (again) {
      console.error(
        `fedistill coordinator: ${where} failed (${message}), and telling it failed too (${(again as Error).message})`,
      );
    }
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
      connectedClients: this.membership.size,
      openRound: round
        ? {
            id: round.id,
            deadline: round.deadline,
            sampled: round.sampled.size,
            answered: round.answered.size,
          }
        : null,
      ...(this.parts.classNames ? { classNames: [...this.parts.classNames] } : {}),
    };
  }

  roundHistory(): RoundRecord[] {
    return [...this.history];
  }

  private handleJoin(link: ClientLink, raw: unknown): JoinResponse {
    const parsed = joinRequestSchema.safeParse(raw);
    if (!parsed.success) return refusal('invalid-payload', `join: ${describeIssues(parsed.error)}`);
    if (this.finished)
      return refusal(
        'run-ended',
        `run ${this.runId} has ended (${this.state}); no more rounds will start`,
      );
    let admission;
    try {
      admission = this.membership.admit(link, parsed.data);
    } catch (error) {
      if (error instanceof MembershipRefusal) return refusal(error.code, error.message);
      throw error;
    }
    const { clientId } = admission;
    const round = this.openRound;
    const start = this.asynchronous
      ? this.asynchronous.startOnJoin(clientId)
      : round?.awaits(clientId)
        ? round.startFor(clientId)
        : undefined;
    if (round?.sampled.has(clientId) && round.strategy.resend) {
      // After the join's ack: the step message it may have missed while away (even after its
      // masked input: the unmask step needs it too).
      const resend = round.strategy.resend.bind(round.strategy);
      setImmediate(() => resend(clientId));
    }
    return {
      ok: true,
      clientId,
      rejoinSecret: admission.rejoinSecret,
      runId: this.runId,
      protocolVersion: PROTOCOL_VERSION,
      model: { spec: this.parts.studentSpec, numParams: this.globalWeights.length },
      strategy: {
        name: this.strategy.name,
        heterogeneousStudents: this.strategy.capabilities.heterogeneousStudents,
      },
      proxyInputs: this.parts.proxyInputs,
      softLabels: this.parts.softLabels,
      ...(this.parts.teacherFeatures ? { teacherFeatures: this.parts.teacherFeatures } : {}),
      ...(start ? { round: start } : {}),
    };
  }

  private handleDisconnect(link: ClientLink): void {
    const clientId = this.membership.leave(link);
    const round = this.openRound;
    if (clientId && round) round.noteGone(clientId, () => this.recheck(round));
  }

  /** Lets `round` settle if nobody it waits for can still answer in time. */
  private recheck(round: OpenRound): void {
    if (this.asynchronous) return this.asynchronous.settle(round);
    round.checkSettled(
      (id) => this.membership.has(id),
      (id) => this.membership.isExcluded(id),
    );
  }

  private async runRound(): Promise<RoundRecord | undefined> {
    const config = this.parts.config;
    // Past the wait a round starts with whoever is there — but a secure sum needs two at least:
    // one client's "sum" is its own update.
    const connected = await this.membership.waitFor(
      config.minClients,
      config.waitForClientsMs,
      config.secureAggregation ? 2 : 1,
      () => this.stopped,
    );
    if (this.stopped) return undefined;
    const roundId = this.nextRoundId++;
    // Asynchronous rounds: everyone connected may contribute (those still training keep at it).
    const sampled = this.asynchronous
      ? [...connected]
      : sampleClients(
          connected,
          config.fraction,
          config.minClients,
          createRng(deriveSeed(config.seed, 'sampling', roundId)),
        );
    const startedAt = Date.now();
    const deadline = startedAt + config.roundTimeoutMs;
    this.updateBound.openRound();
    const strategyRound = this.strategy.beginRound({
      roundId,
      global: this.globalWeights,
      sampled: sampled.map((clientId) => ({
        clientId,
        numSamples: this.membership.numSamplesOf(clientId),
      })),
      deadline,
      attempt: `${this.runId}/${roundId}@${deadline}`,
      screenDelta: (delta) => this.screenDelta(delta),
      normBound: this.updateBound.bound,
      screenNorm: (norm) => this.screenNorm(norm),
    });
    const message: RoundStart = {
      roundId,
      modelVersion: this.modelVersion,
      deadline,
      ...strategyRound.instructions,
    };
    const round = new OpenRound(
      roundId,
      message,
      this.codec.encode(message).byteLength,
      startedAt,
      sampled,
      strategyRound,
      config.dropGraceMs,
    );
    // A round that cannot go on past its set-up ends now; otherwise those left out of it need
    // not be waited for.
    strategyRound.ready?.then(
      () => this.recheck(round),
      () => round.settle(),
    );
    this.openRound = round;
    this.state = 'training';
    if (!this.asynchronous) {
      for (const id of sampled)
        if (!round.sitsOut(id))
          this.membership.get(id)?.link.emit('round:start', round.startFor(id));
      this.parts.store.addDownloadTraffic(this.runId, sampled, round.bytesDown);
    }
    this.asynchronous?.opened(round, sampled);
    this.emit({ type: 'round:started', roundId, sampled, deadline });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      round.settled,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, config.roundTimeoutMs))),
      this.stopRequested,
    ]);
    clearTimeout(timer);
    round.close();
    // An asynchronous round's quorum is of its buffer (K), however many are connected.
    const needed = quorumSize(
      this.asynchronous ? config.fedbuff.bufferSize : round.sampled.size,
      config.quorum,
    );
    // The round stays open while it aggregates: a multi-step round (secure aggregation's unmask
    // step) still takes its survivors' messages. Nothing thrown on the way ends the run.
    let aggregate: RoundAggregate;
    try {
      aggregate = await strategyRound.aggregate({
        stopping: this.stopped,
        enough: (participants) => participants >= needed,
      });
    } catch (error) {
      strategyRound.rollback?.();
      aggregate = {
        participants: round.answered.size,
        failure: `aggregation failed: ${(error as Error).message}`,
      };
    }
    this.openRound = undefined;
    let student: StudentEvaluation | undefined;
    if (aggregate.failure === undefined && aggregate.weights) {
      const verdict = await this.verifyCandidate(aggregate.weights);
      if ('failure' in verdict) {
        // The global student stands: the refused weights leave no trace (optimiser state too).
        strategyRound.rollback?.();
        aggregate = { participants: aggregate.participants, failure: verdict.failure };
      } else {
        student = verdict.student;
        this.globalWeights = aggregate.weights;
        await this.outcomes.checkpoint(this.model, roundId);
      }
    }
    if (aggregate.failure === undefined) this.modelVersion += 1;
    this.updateBound.closeRound(aggregate.failure === undefined);
    const record = this.outcomes.record(
      round,
      aggregate,
      student,
      this.modelVersion,
      this.history.at(-1),
    );
    this.history.push(record);
    this.parts.hub.broadcast('round:end', {
      roundId,
      status: record.status,
      participants: record.participants,
      ...(record.studentAccuracy !== null ? { studentAccuracy: record.studentAccuracy } : {}),
    });
    this.emit({ type: 'round:closed', record });
    return record;
  }

  /**
   * After the open round's strategy answered an update: the norm of the delta it screened counts
   * toward the adaptive bound only when the update was accepted whole.
   */
  private settleScreen(accepted: boolean): void {
    if (accepted && this.screened) this.updateBound.accepted(this.screened);
    this.screened = undefined;
  }

  /** One client's delta held to the update bound: folded as sent, clipped (noted), or refused. */
  private screenDelta(delta: Float32Array): ScreenedDelta {
    const verdict = this.updateBound.check(delta);
    if (verdict.action === 'refuse' || !verdict.delta)
      throw new ContributionError(`update bound: ${verdict.reason}`, 'rejected-weights');
    // Its norm joins the bound's history only once the whole update is accepted (settleScreen).
    this.screened = verdict;
    return { delta: verdict.delta, ...(verdict.reason ? { note: verdict.reason } : {}) };
  }

  /** A delta screened at an edge, by its norm: the same verdict, the same history. */
  private screenNorm(norm: number): AcceptNote {
    const verdict = this.updateBound.checkNorm(norm);
    if (verdict.action === 'refuse')
      throw new ContributionError(`update bound: ${verdict.reason}`, 'rejected-weights');
    this.screened = verdict;
    return verdict.reason ? { note: verdict.reason } : {};
  }

  /**
   * Whether `weights` may become the global student: finite and bounded, and (with the accuracy
   * guard) not a collapse on the test split. The model holds the global weights again after a
   * refusal, the candidate after a pass.
   */
  private async verifyCandidate(
    weights: Float32Array,
  ): Promise<{ student: StudentEvaluation } | { failure: string }> {
    const bad = verifyWeights(weights, this.globalWeights.length, this.parts.config.modelGuard);
    if (bad) return { failure: `model guard: ${bad}` };
    const student = this.outcomes.evaluate(this.model, weights);
    const collapse = this.accuracyGuard.judge(student.accuracy);
    if (collapse === undefined) return { student };
    setFlatWeights(this.model, this.globalWeights);
    return { failure: `accuracy guard: ${collapse}; rolled back to the last good model` };
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
    this.asynchronous?.ended();
    this.unjoinedRefusals.flush();
    this.parts.store.finishRun(this.runId, status, { roundsAggregated: aggregatedRounds });
    this.emit({ type: 'run:ended', status, roundsAggregated: aggregatedRounds });
    // Without a global model the coordinator's copy was never trained: there is nothing to export.
    const studentExport = this.strategy.capabilities.globalModel
      ? await this.parts.checkpoints.exportFinal(this.model)
      : null;
    this.parts.hub.broadcast('run:end', { runId: this.runId, reason: status });
    const last = [...this.history].reverse().find((r) => r.status === 'aggregated');
    return {
      runId: this.runId,
      status,
      rounds: [...this.history],
      finalStudentAccuracy: last?.studentAccuracy ?? null,
      studentParams: this.studentParams,
      studentExport,
    };
  }

  /** True once `run()` has returned. */
  get finished(): boolean {
    return this.state === 'completed' || this.state === 'stopped';
  }

  /** Ends the run after the open round closes (early, with what has arrived). */
  stop(): void {
    this.stopped = true;
    this.resolveStop();
    this.membership.wake();
  }

  dispose(): void {
    this.unjoinedRefusals.flush();
    this.model.dispose();
    this.strategy.dispose?.();
  }
}
