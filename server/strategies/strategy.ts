/**
 * The one interface every federated strategy implements, in the spirit of
 * Flower's `Strategy`: configure a round (what the sampled clients receive),
 * accept each client's contribution as it arrives (streaming, so memory stays
 * O(parameters)), and aggregate at the round's close. The coordinator's run
 * loop knows nothing else about a strategy; differential privacy and secure
 * aggregation are strategies wrapped around another (differentialPrivacy.ts,
 * secureAggregation.ts).
 *
 * Adding a strategy: one file exporting a `StrategyDefinition`, one line in
 * registry.ts (docs/architecture.md).
 */
import type { ProxyData } from '../../shared/data/types.js';
import type { ModelSpec } from '../../shared/models/index.js';
import type {
  ErrorCode,
  RoundStart,
  SecAggUp,
  UpdateMessage,
  RoundConfig,
} from '../../shared/protocol/index.js';
import type { AggregatorSpec, ServerOptimizerSpec } from '../../shared/aggregation/index.js';
import type { FedBuffSettings } from './staleness.js';

/** What a strategy moves and needs; the config schema, the CLI and the coordinator read it. */
export interface StrategyCapabilities {
  /**
   * A global student exists: its weights go down every round, weight deltas come back and are
   * averaged, and the coordinator evaluates and checkpoints it.
   */
  readonly globalModel: boolean;
  /** Clients distil from the teacher's outputs (without it, α is forced to 1: hard labels only). */
  readonly usesTeacher: boolean;
  /** No weights travel, so every client may run its own student architecture. */
  readonly heterogeneousStudents: boolean;
  /** The strategy needs only the sum of the updates, so they may be masked (secure aggregation). */
  readonly secureAggregation: boolean;
  /** The coordinator itself works on the proxy set (needs its inputs and soft labels in memory). */
  readonly needsProxyAtCoordinator: boolean;
  /**
   * Rounds are asynchronous (fedbuff): every connected client trains whenever it can, on the
   * model it was last sent, and a round is one aggregation of the updates that arrived while it
   * was open, each with its staleness (`Arrival`). The coordinator sends a client the current
   * model as soon as its update is answered, and closes the round when `complete()` says so.
   */
  readonly asynchronous?: boolean;
}

/**
 * The run settings strategies read (a subset of the coordinator's config, server/config.ts,
 * which documents each field; declared here so that the config schema can read the registry).
 */
export interface StrategySettings {
  readonly seed: number;
  readonly training: RoundConfig;
  readonly aggregator: AggregatorSpec;
  readonly serverOptimizer: ServerOptimizerSpec;
  readonly logitExchange: {
    readonly samples: number;
    readonly consensusWeight: number;
    readonly sharpenTemperature: number;
  };
  readonly ensembleDistillation: {
    readonly epochs: number;
    readonly learningRate: number;
    readonly teacherWeight: number;
  };
  readonly fedbuff: FedBuffSettings;
}

/** The run-wide parts a strategy is made from. */
export interface StrategyContext {
  readonly config: StrategySettings;
  readonly studentSpec: ModelSpec;
  readonly numClasses: number;
  /** The proxy set as clients decode it; present when the coordinator holds it in memory. */
  readonly proxy?: ProxyData;
  /** Proxy samples clients hold. */
  readonly proxyCount: number;
}

/** One round as the coordinator opens it. */
export interface RoundContext {
  readonly roundId: number;
  /** The global student's weights at the round's start (deltas are relative to them). */
  readonly global: Float32Array;
  /** The round's sampled clients, in sampling order, with the sample counts they joined with. */
  readonly sampled: readonly { clientId: string; numSamples: number }[];
  /** The round's deadline (ms since the epoch). */
  readonly deadline: number;
  /** Unique to this attempt of the round (a restarted coordinator re-runs it as a new attempt). */
  readonly attempt: string;
  /**
   * The coordinator's screen for one client's decoded delta (the update bound,
   * server/robustness): returns what to fold in — the delta, or a clipped copy with a note —
   * or throws ContributionError to refuse it. `decodeDelta` applies it.
   */
  readonly screenDelta?: (delta: Float32Array) => ScreenedDelta;
  /** The update bound's norm bound, fixed for this round (server/robustness/updateBound.ts). */
  readonly normBound?: number;
  /**
   * The same screen for a delta decoded elsewhere (an edge, which checked its coordinates and
   * keeps it), by the norm it measured: returns the record's note (clipped), or throws
   * ContributionError to refuse it. Its norm joins the adaptive bound's history as a screened
   * delta's does.
   */
  readonly screenNorm?: (norm: number) => AcceptNote;
}

export interface ScreenedDelta {
  readonly delta: Float32Array;
  /** Recorded with the accepted update when what is folded in differs from what was sent. */
  readonly note?: string;
}

/** An asynchronous round's update as the coordinator received it. */
export interface Arrival {
  /**
   * τ: global versions published since the one the coordinator sent this client (its own
   * record of the dispatch, not the client's word).
   */
  readonly staleness: number;
}

/** What an accepted contribution leaves on the record. */
export interface AcceptNote {
  /** Why what was folded in differs from what was sent (e.g. clipped by the update bound). */
  readonly note?: string;
}

/** The part of round:start that a strategy decides. */
export type RoundInstructions = Pick<RoundStart, 'config' | 'weights' | 'predict' | 'consensus'>;

/** How a round ended, as far as its strategy is concerned. */
export interface RoundAggregate {
  /** Clients whose contribution is in the result. */
  readonly participants: number;
  /** Why nothing was aggregated (below quorum, nothing to unmask, …): the round fails. */
  readonly failure?: string;
  /** The new global student (strategies with a global model). */
  readonly weights?: Float32Array;
  /** Without a global model: the mean of the clients' own validation accuracies, if any. */
  readonly clientAccuracy?: number | null;
  /** (ε at the configured δ) spent so far, where differential privacy is on. */
  readonly privacyEpsilon?: number | null;
  /** Asynchronous rounds: the staleness of the aggregated updates. */
  readonly staleness?: { readonly mean: number; readonly max: number };
  /** What the round's record notes even when it aggregated (secure groups that sat it out). */
  readonly note?: string;
}

/** The coordinator's answer to a side-channel message (secure aggregation's steps). */
export interface SideMessageResult {
  /** Clients the sender says cannot be trusted (secure aggregation's complaints). */
  readonly accused: readonly string[];
}

/** An update that cannot be applied; `code` goes into the client's error ack. */
export class ContributionError extends Error {
  override readonly name = 'ContributionError';
  constructor(
    message: string,
    readonly code: ErrorCode,
  ) {
    super(message);
  }
}

/** One open round of a strategy. */
export interface StrategyRound {
  /** What every sampled client receives (config, weights, proxy sample, consensus). */
  readonly instructions: RoundInstructions;
  /** Fields of round:start that differ per client (a secure round's member id and weight). */
  startFor?(clientId: string): Partial<RoundStart> | undefined;
  /**
   * Whether a sampled client takes no part in the round (a secure group below its minimum size):
   * it is sent no round:start, so it does not train in vain, and nobody waits for it.
   */
  sitsOut?(clientId: string): boolean;
  /** Resolves once the round's setup is done (secure aggregation's key exchange); rejects when the round cannot go on. */
  readonly ready?: Promise<void>;
  /**
   * Checks one update and folds it in; throws ContributionError (or any error) and leaves the
   * round exactly as it was when the update cannot be applied.
   */
  accept(clientId: string, update: UpdateMessage, arrival?: Arrival): AcceptNote | void;
  /** Asynchronous rounds: whether the round has what it aggregates (fedbuff: K updates). */
  complete?(): boolean;
  /** The clients whose contribution can still come (default: every sampled client). */
  awaited?(): Iterable<string>;
  /** A message of the round's side channel: secure aggregation's steps (the `secagg` event). */
  receive?(clientId: string, message: SecAggUp): SideMessageResult;
  /** A sampled client rejoined: send it what it may have missed. */
  resend?(clientId: string): void;
  /**
   * Closes the round once every contribution has arrived or the deadline passed. Applies
   * nothing (no optimiser step, no new consensus) unless `options.enough(participants)`.
   */
  aggregate(options: AggregateOptions): Promise<RoundAggregate>;
  /**
   * The coordinator refused the aggregate (the model guard: not finite, out of bounds, an
   * accuracy collapse): undo what `aggregate` changed — a server optimiser's state — so the
   * refused round leaves no trace.
   */
  rollback?(): void;
}

export interface AggregateOptions {
  /** The run is being stopped: multi-step rounds must not wait for more messages. */
  readonly stopping: boolean;
  /** Whether this many participants meet the round's quorum. */
  enough(participants: number): boolean;
}

/** The failure of a round whose contributions fall short of its quorum. */
export function belowQuorum(participants: number): RoundAggregate {
  return { participants, failure: `${participants} contribution(s) fall short of the quorum` };
}

/**
 * A round that behaves like `inner` but for `overrides`: how wrappers (differential privacy,
 * secure aggregation) change one part of a round and pass the rest through.
 */
export function wrapRound<R extends StrategyRound>(
  inner: R,
  overrides: Partial<StrategyRound>,
): StrategyRound {
  return {
    instructions: inner.instructions,
    ...(inner.ready ? { ready: inner.ready } : {}),
    ...(inner.startFor ? { startFor: inner.startFor.bind(inner) } : {}),
    ...(inner.sitsOut ? { sitsOut: inner.sitsOut.bind(inner) } : {}),
    ...(inner.awaited ? { awaited: inner.awaited.bind(inner) } : {}),
    ...(inner.receive ? { receive: inner.receive.bind(inner) } : {}),
    ...(inner.resend ? { resend: inner.resend.bind(inner) } : {}),
    ...(inner.rollback ? { rollback: inner.rollback.bind(inner) } : {}),
    ...(inner.complete ? { complete: inner.complete.bind(inner) } : {}),
    accept: inner.accept.bind(inner),
    aggregate: inner.aggregate.bind(inner),
    ...overrides,
  };
}

/** A round of a strategy whose aggregate is a mean delta applied to the global student. */
export interface WeightAveragingRound extends StrategyRound {
  /** The global student after `meanDelta` (server optimiser, any server-side distillation). */
  applyMeanDelta(meanDelta: Float32Array): Promise<Float32Array>;
}

/**
 * A round of an asynchronous strategy that buffers staleness-weighted deltas (fedbuff), with its
 * two steps apart so the buffer may be summed elsewhere (edges fold Σ s(τᵢ)·Δᵢ themselves).
 */
export interface BufferedRound extends StrategyRound {
  /** K: arrivals the buffer takes before it aggregates. */
  readonly bufferSize: number;
  /** s(τ) for an arrival, with the record's note; throws ContributionError when it is too stale. */
  weigh(update: UpdateMessage, arrival: Arrival): { weight: number; note: string };
  /**
   * The new global student from Σ s(τᵢ)·Δᵢ (float64) over the n buffered updates whose
   * stalenesses are given: w + η_g·(1/n)·Σ, then the server optimiser.
   */
  applyBuffer(sum: Float64Array, stalenesses: readonly number[]): RoundAggregate;
}

export interface Strategy {
  readonly name: string;
  readonly capabilities: StrategyCapabilities;
  beginRound(round: RoundContext): StrategyRound;
  /** Frees tensors and other resources at the end of the run. */
  dispose?(): void;
}

/** How the registry knows a strategy: its name, what it does, and how to make one for a run. */
export interface StrategyDefinition {
  readonly name: string;
  /** One line for `--help` and docs. */
  readonly summary: string;
  readonly capabilities: StrategyCapabilities;
  create(context: StrategyContext): Strategy;
}
