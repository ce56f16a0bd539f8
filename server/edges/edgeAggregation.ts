/**
 * The master's side of a round aggregated over edges: a strategy wrapped
 * around a weight-averaging one (fedavg, fedkd). An edge-held client's update
 * reaches the master's intake without its delta — a claim, checked like any
 * update (open round, deadline, sampling, duplicates, model version) — and is
 * counted here against the edge that sent it; the edge folds the delta only
 * once the claim is granted. At the round's close every edge sends one
 * partial sum; each is checked against the claims granted to that edge
 * (partialSum.ts) before it is folded in, and the total's mean delta goes
 * through the inner round's server optimiser as a single coordinator's would.
 */
import type { CoordinatorConfig } from '../config.js';
import type { UpdateBoundConfig } from '../robustness/index.js';
import type {
  RoundAggregate,
  RoundContext,
  Strategy,
  StrategyRound,
  WeightAveragingRound,
} from '../strategies/index.js';
import { ContributionError, belowQuorum, decodeDelta, refuseFields } from '../strategies/index.js';
import type { PartialMessage, RoundOpen } from './messages.js';
import { PartialSum, partialProblem } from './partialSum.js';

/**
 * Strategies whose round aggregate is a sum of weighted deltas, so edges may pre-sum it: sample
 * weights (fedavg, fedkd), or staleness weights the master grants (fedbuff: edgeBuffering.ts).
 */
export const EDGE_STRATEGIES: readonly string[] = ['fedavg', 'fedkd', 'fedbuff'];

/**
 * Why the run cannot aggregate over edges, or undefined. Secure aggregation can: per edge group
 * (secureGroups.ts).
 */
export function edgesConflict(
  config: Pick<CoordinatorConfig, 'strategy' | 'aggregator' | 'privacy'>,
): string | undefined {
  const why = 'edges fold partial sums, so the round aggregate must be a sum (docs/scaling.md)';
  if (!EDGE_STRATEGIES.includes(config.strategy))
    return `strategy ${config.strategy} cannot run over edges: ${why}; edges support ${EDGE_STRATEGIES.join(', ')}`;
  if (config.aggregator.kind !== 'fedavg')
    return `aggregator ${config.aggregator.kind} cannot run over edges: it needs every delta at once; ${why}`;
  if (config.privacy)
    return `differential privacy cannot run over edges yet: its per-client clipping and noise run at the master`;
  return undefined;
}

/** What the wrapped strategy needs from the edges' control plane (masterEdges.ts). */
export interface EdgeRoundPort {
  /** The edge whose connection holds `clientId`, or undefined for a client of the master's own. */
  edgeOf(clientId: string): string | undefined;
  /** The norm an edge measured of the delta of the claim `clientId` is handing in now. */
  claimNorm(clientId: string): number | undefined;
  openRound(message: RoundOpen): void;
  /**
   * Asks every edge for its partial and resolves with those that came from `waitFor`'s edges (or
   * all that came by the timeout, `extraMs` past the usual one: a secure group unmasks first).
   */
  collect(
    roundId: number,
    waitFor: readonly string[],
    extraMs?: number,
  ): Promise<Map<string, ReceivedPartial>>;
  /** Records a partial that is refused (never folded in). */
  refusePartial(edge: string, roundId: number, reason: string, bytes: number): void;
  /** Per-round traffic, for logs and tests. */
  reportRound(roundId: number, partials: number, partialBytes: number): void;
}

export interface ReceivedPartial {
  partial: PartialMessage;
  bytes: number;
}

export class EdgeAggregatedStrategy implements Strategy {
  readonly name: string;
  readonly capabilities: Strategy['capabilities'];

  constructor(
    private readonly inner: Strategy,
    private readonly port: EdgeRoundPort,
    private readonly updateBound: UpdateBoundConfig,
  ) {
    this.name = inner.name;
    this.capabilities = inner.capabilities;
  }

  beginRound(context: RoundContext): StrategyRound {
    const inner = this.inner.beginRound(context) as Partial<WeightAveragingRound> & StrategyRound;
    const { applyMeanDelta } = inner;
    if (!applyMeanDelta) throw new Error(`strategy ${this.name} does not average weight deltas`);
    const { roundId } = context;
    const numParams = context.global.length;
    const direct = new PartialSum(numParams);
    const claims = new Map<string, Map<string, number>>();
    // The master's bound (its history of accepted norms adapts it), so every edge screens with
    // one bound; without the coordinator's screen, the largest the bound may be.
    const normBound = context.normBound ?? this.updateBound.maxNorm;
    this.port.openRound({
      t: 'round:open',
      roundId,
      numParams,
      updateBound: this.updateBound,
      normBound,
    });
    const why = 'this round averages weight deltas';
    // Set once the round aggregates: its edges close their rounds then, so a claim granted while
    // the master still collects partials would be acked but never folded (nor a direct delta
    // counted after the total is taken).
    let closing = false;
    return {
      instructions: inner.instructions,
      ...(inner.rollback ? { rollback: inner.rollback.bind(inner) } : {}),
      accept: (clientId, update) => {
        if (closing)
          throw new ContributionError(
            `round ${roundId} is closing: its edges' partial sums are being collected`,
            'too-late',
          );
        refuseFields(update, ['predictions', 'masked'], why);
        const edge = this.port.edgeOf(clientId);
        if (edge === undefined) {
          const { delta, note } = decodeDelta(update, context);
          direct.add(clientId, delta, update.numSamples);
          return note !== undefined ? { note } : undefined;
        }
        if (update.delta !== undefined)
          throw new ContributionError(
            'an update through an edge arrives without its delta (the edge folds it)',
            'invalid-payload',
          );
        const norm = this.port.claimNorm(clientId);
        if (norm === undefined)
          throw new ContributionError(
            "a claim through an edge carries its delta's norm",
            'invalid-payload',
          );
        // Held to the master's bound as a delta is here; the norm joins its history.
        const note = context.screenNorm?.(norm);
        let granted = claims.get(edge);
        if (!granted) claims.set(edge, (granted = new Map()));
        granted.set(clientId, update.numSamples);
        return note?.note !== undefined ? { note: note.note } : undefined;
      },
      aggregate: async ({ enough }): Promise<RoundAggregate> => {
        closing = true;
        const received = await this.port.collect(roundId, [...claims.keys()]);
        const total = new PartialSum(numParams);
        total.merge(direct.sum, direct.weight, direct.clients);
        let partialBytes = 0;
        for (const [edge, { partial, bytes }] of received) {
          partialBytes += bytes;
          const problem = partialProblem(partial, {
            roundId,
            numParams,
            claims: claims.get(edge) ?? new Map(),
            updateBound: { maxCoordinate: this.updateBound.maxCoordinate, maxNorm: normBound },
          });
          if (problem) this.port.refusePartial(edge, roundId, problem, bytes);
          else total.merge(partial.sum, partial.weight, partial.clients);
        }
        this.port.reportRound(roundId, received.size, partialBytes);
        const participants = total.clients.length;
        if (participants === 0) return { participants, failure: 'no weight delta arrived' };
        if (!enough(participants)) return belowQuorum(participants);
        return { participants, weights: await applyMeanDelta(total.mean()) };
      },
    };
  }

  dispose(): void {
    this.inner.dispose?.();
  }
}
