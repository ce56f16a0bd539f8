/**
 * The master's side of buffered asynchronous rounds (fedbuff, Nguyen et al.
 * 2022) over edges: a strategy wrapped around fedbuff's round. Each round of
 * the run is one buffer. A claim from an edge's client is admitted as the
 * buffer admits a direct update — τ from the master's own dispatch ledger
 * (never the client's or the edge's word), refused `stale-model` past
 * maxStaleness, its norm held to the master's bound — and granted: its ack
 * carries the buffer, s(τ) and a grant id (edgeGrants.ts), and the edge folds
 * s(τ)·Δ into that buffer's partial (edgeEpochs.ts). Direct clients' deltas
 * are folded here. Once K updates are in, the buffer closes: every edge is
 * asked for its partial (up to the partial timeout), each is checked against
 * the grants made to it, and Σ s(τᵢ)·Δᵢ over everything folded goes through
 * fedbuff's own step, w + η_g·(1/n)·Σ then the server optimiser, exactly as
 * one coordinator's buffer. Claims arriving meanwhile wait for the next buffer
 * (coordinator/asynchronousRounds.ts), so their grants name it.
 */
import type { UpdateBoundConfig } from '../robustness/index.js';
import type {
  BufferedRound,
  RoundAggregate,
  RoundContext,
  Strategy,
  StrategyRound,
} from '../strategies/index.js';
import { ContributionError, belowQuorum, decodeDelta, refuseFields } from '../strategies/index.js';
import type { EdgeRoundPort } from './edgeAggregation.js';
import { GrantLedger, bufferedPartialProblem } from './edgeGrants.js';
import type { Grant } from './messages.js';

export class EdgeBufferedStrategy implements Strategy {
  readonly name: string;
  readonly capabilities: Strategy['capabilities'];
  private readonly ledger = new GrantLedger();

  constructor(
    private readonly inner: Strategy,
    private readonly port: EdgeRoundPort,
    private readonly updateBound: UpdateBoundConfig,
  ) {
    this.name = inner.name;
    this.capabilities = inner.capabilities;
  }

  /** The grant the ack of `clientId`'s admitted claim carries (taken once). */
  takeGrant(clientId: string): Grant | undefined {
    return this.ledger.take(clientId);
  }

  beginRound(context: RoundContext): StrategyRound {
    const inner = this.inner.beginRound(context) as Partial<BufferedRound> & StrategyRound;
    const { weigh, applyBuffer, bufferSize } = inner;
    if (!weigh || !applyBuffer || bufferSize === undefined)
      throw new Error(`strategy ${this.name} does not buffer staleness-weighted deltas`);
    const epoch = context.roundId;
    const numParams = context.global.length;
    const normBound = context.normBound ?? this.updateBound.maxNorm;
    this.port.openRound({
      t: 'round:open',
      roundId: epoch,
      numParams,
      updateBound: this.updateBound,
      normBound,
      buffered: true,
    });
    // Direct clients' Σ s(τᵢ)·Δᵢ (float64) and their τs; edges' come in their partials.
    let direct: Float64Array | undefined;
    const directStaleness: number[] = [];
    let granted = 0;
    let closing = false;
    const complete = () => closing || directStaleness.length + granted >= bufferSize;
    return {
      instructions: inner.instructions,
      ...(inner.rollback ? { rollback: inner.rollback.bind(inner) } : {}),
      complete,
      accept: (clientId, update, arrival) => {
        if (!arrival) throw new Error('fedbuff: an update needs its staleness (arrival)');
        if (complete())
          throw new ContributionError(
            `the buffer of round ${epoch} is full (K = ${bufferSize}) and being aggregated; the new model follows`,
            'too-late',
          );
        const { weight, note: stale } = weigh(update, arrival);
        refuseFields(update, ['predictions', 'masked'], 'fedbuff buffers weight deltas');
        const withNote = (note: string | undefined) => ({
          note: note !== undefined ? `${stale}; ${note}` : stale,
        });
        const edge = this.port.edgeOf(clientId);
        if (edge === undefined) {
          const { delta, note } = decodeDelta(update, context);
          const sum = (direct ??= new Float64Array(numParams));
          for (let i = 0; i < sum.length; i++) sum[i]! += weight * delta[i]!;
          directStaleness.push(arrival.staleness);
          return withNote(note);
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
        // The master's bound, as for a delta here: refused, or clipped — which the edge, holding
        // the delta, applies as the grant's factor. The norm joins the bound's history.
        const screened = context.screenNorm?.(norm);
        const clip = norm > normBound ? normBound / norm : undefined;
        this.ledger.grant(epoch, edge, { clientId, weight, staleness: arrival.staleness }, clip);
        granted += 1;
        return withNote(screened?.note);
      },
      aggregate: async ({ enough }): Promise<RoundAggregate> => {
        closing = true;
        // A claim let into this buffer from the wait for it is answered a few promise steps
        // after its admission: those acks (and their grants) go out before the edges are told
        // the buffer closes, so each is folded before its edge's partial leaves.
        await new Promise((resolve) => setImmediate(resolve));
        const received = await this.port.collect(epoch, this.ledger.edges(epoch));
        const sum = direct ? Float64Array.from(direct) : new Float64Array(numParams);
        const stalenesses = [...directStaleness];
        let partialBytes = 0;
        for (const [edge, { partial, bytes }] of received) {
          partialBytes += bytes;
          const grants = this.ledger.grantsOf(epoch, edge);
          const problem = bufferedPartialProblem(partial, {
            epoch,
            numParams,
            grants,
            updateBound: { maxCoordinate: this.updateBound.maxCoordinate, maxNorm: normBound },
          });
          if (problem) {
            this.port.refusePartial(edge, epoch, problem, bytes);
            continue;
          }
          if (partial.sum) for (let i = 0; i < sum.length; i++) sum[i]! += partial.sum[i]!;
          for (const id of partial.clients) stalenesses.push(grants.get(id)!.staleness);
        }
        this.ledger.close(epoch);
        this.port.reportRound(epoch, received.size, partialBytes);
        const n = stalenesses.length;
        if (n === 0) return { participants: 0, failure: 'no weight delta arrived' };
        if (!enough(n)) return belowQuorum(n);
        return applyBuffer(sum, stalenesses);
      },
    };
  }

  dispose(): void {
    this.inner.dispose?.();
  }
}
