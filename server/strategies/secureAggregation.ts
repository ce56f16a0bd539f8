/**
 * Secure aggregation (Bonawitz et al. 2017) composed around a weight-averaging
 * strategy: the sampled clients mask their deltas, so the coordinator receives
 * masked inputs instead of deltas and learns only the sample-weighted mean of
 * the survivors' deltas, which it hands to the inner strategy's
 * `applyMeanDelta` (server optimiser). The four protocol steps run over the
 * round's side channel (the `secagg` event) through SecureAggregationRound.
 */
import type { SecAggDown } from '../../shared/protocol/index.js';
import type { ErrorCode } from '../../shared/protocol/index.js';
import { SecAggError } from '../../shared/secureAggregation/index.js';
import type { SecAggErrorCode } from '../../shared/secureAggregation/index.js';
import type { SecureAggregationConfig } from '../config.js';
import { SecureAggregationRound } from '../secureRound.js';
import type {
  RoundAggregate,
  RoundContext,
  Strategy,
  StrategyRound,
  WeightAveragingRound,
} from './strategy.js';
import { ContributionError, belowQuorum, wrapRound } from './strategy.js';

const SECAGG_REFUSAL: Record<SecAggErrorCode, ErrorCode> = {
  phase: 'wrong-phase',
  'too-few': 'wrong-phase',
  duplicate: 'duplicate',
  'unknown-client': 'not-sampled',
  'bad-message': 'invalid-payload',
  overflow: 'invalid-payload',
  'bad-option': 'invalid-payload',
};

/** A SecAggError as the refusal a client's ack carries (other errors as they are). */
export function secAggRefusal(error: unknown): unknown {
  return error instanceof SecAggError
    ? new ContributionError(error.message, SECAGG_REFUSAL[error.code])
    : error;
}

/** How a secure round's aggregation ended: how many masked deltas the sum holds, or why none. */
export interface SecureOutcome {
  roundId: number;
  sampled: number;
  threshold: number;
  survivors: number;
  error?: string;
}

export interface SecureAggregationHooks {
  /** Sends a step message to one client. */
  send(clientId: string, message: SecAggDown): void;
  /** Reports each round's outcome (events, dashboards). */
  onOutcome?(outcome: SecureOutcome): void;
}

function isWeightAveragingRound(round: StrategyRound): round is WeightAveragingRound {
  return typeof (round as Partial<WeightAveragingRound>).applyMeanDelta === 'function';
}

export class SecurelyAggregatedStrategy implements Strategy {
  readonly name: string;
  readonly capabilities: Strategy['capabilities'];

  constructor(
    private readonly inner: Strategy,
    private readonly config: SecureAggregationConfig,
    private readonly hooks: SecureAggregationHooks,
  ) {
    if (!inner.capabilities.secureAggregation)
      throw new Error(`strategy ${inner.name} cannot aggregate securely`);
    this.name = inner.name;
    this.capabilities = inner.capabilities;
  }

  beginRound(round: RoundContext): StrategyRound {
    const inner = this.inner.beginRound(round);
    if (!isWeightAveragingRound(inner))
      throw new Error(`strategy ${this.inner.name}'s rounds cannot take a securely summed delta`);
    const { roundId } = round;
    const secure = new SecureAggregationRound({
      session: round.attempt,
      roundId,
      members: round.sampled,
      thresholdFraction: this.config.threshold,
      scale: this.config.scale,
      length: round.global.length,
      phaseTimeoutMs: this.config.phaseTimeoutMs,
      send: (clientId, step) => this.hooks.send(clientId, step),
    });
    const ready = secure.setUp();
    // Observed here so that a failed set-up is never an unhandled rejection; the coordinator
    // reads the same promise.
    ready.catch(() => undefined);
    const report = (survivors: number, error?: string) =>
      this.hooks.onOutcome?.({
        roundId,
        sampled: round.sampled.length,
        threshold: secure.threshold,
        survivors,
        ...(error !== undefined ? { error } : {}),
      });
    return wrapRound(inner, {
      startFor: (clientId) => ({ secureAggregation: secure.startFor(clientId) }),
      ready,
      accept: (clientId, update) => {
        if (update.masked === undefined || update.delta !== undefined)
          throw new ContributionError(
            `round ${roundId} aggregates securely: send a masked input, not a delta`,
            'invalid-payload',
          );
        try {
          secure.receiveMasked(clientId, update.masked, update.session);
        } catch (error) {
          throw secAggRefusal(error);
        }
      },
      awaited: () => secure.awaitedInputs(),
      receive: (clientId, message) => {
        try {
          return { accused: secure.receive(clientId, message) };
        } catch (error) {
          throw secAggRefusal(error);
        }
      },
      resend: (clientId) => secure.resend(clientId),
      aggregate: async ({ stopping, enough }): Promise<RoundAggregate> => {
        if (stopping) secure.abort();
        try {
          await ready;
          const result = await secure.finish();
          const survivors = result.survivors.length;
          report(survivors);
          if (!enough(survivors)) return belowQuorum(survivors);
          return { participants: survivors, weights: await inner.applyMeanDelta(result.meanDelta) };
        } catch (error) {
          // Too few clients (SecAggError) or anything unforeseen: this round fails, the run goes on.
          const message = (error as Error).message;
          report(0, message);
          return { participants: 0, failure: `secure aggregation: ${message}` };
        }
      },
    });
  }

  dispose(): void {
    this.inner.dispose?.();
  }
}
