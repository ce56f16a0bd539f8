/**
 * Client-side differential privacy composed around a strategy with a global
 * model: each round's settings tell clients to clip their delta to `clipNorm`
 * and add Gaussian noise of std `noiseMultiplier·clipNorm` before it leaves the
 * device, and every aggregated round reports the ε spent so far by the client
 * that has taken part most often.
 *
 * The coordinator sees each noised update, and replacing one client's data
 * moves its clipped update by up to 2C, so each round a client takes part in is
 * a Gaussian mechanism with noise multiplier σ/2 (docs/reliability.md). No
 * amplification by sampling is claimed: clients are not Poisson-sampled.
 * Predictions on public proxy samples (logit exchange) are not covered, so the
 * wrapper leaves strategies without a global model as they are.
 */
import { computeEpsilon } from '../../shared/privacy/index.js';
import type { CoordinatorConfig } from '../config.js';
import type { RoundAggregate, RoundContext, Strategy, StrategyRound } from './strategy.js';
import { wrapRound } from './strategy.js';

export type PrivacyConfig = NonNullable<CoordinatorConfig['privacy']>;

export class DifferentiallyPrivateStrategy implements Strategy {
  readonly name: string;
  readonly capabilities: Strategy['capabilities'];
  /** Rounds each client's update was aggregated in. */
  private readonly participation: Map<string, number>;

  /** @param participation accepted updates per client so far (a resumed run's history). */
  constructor(
    private readonly inner: Strategy,
    private readonly privacy: PrivacyConfig,
    participation: ReadonlyMap<string, number> = new Map(),
  ) {
    this.name = inner.name;
    this.capabilities = inner.capabilities;
    this.participation = new Map(participation);
  }

  /** ε spent so far at the configured δ after the clients in `answered` took part once more. */
  private account(answered: Iterable<string>): number {
    for (const id of answered) this.participation.set(id, (this.participation.get(id) ?? 0) + 1);
    const steps = Math.max(0, ...this.participation.values());
    if (this.privacy.noiseMultiplier === 0) return Number.POSITIVE_INFINITY;
    return computeEpsilon({
      noiseMultiplier: this.privacy.noiseMultiplier / 2,
      samplingRate: 1,
      steps,
      delta: this.privacy.delta,
    }).epsilon;
  }

  beginRound(round: RoundContext): StrategyRound {
    const inner = this.inner.beginRound(round);
    if (!this.capabilities.globalModel) return inner;
    const { clipNorm, noiseMultiplier } = this.privacy;
    const answered: string[] = [];
    return wrapRound(inner, {
      instructions: {
        ...inner.instructions,
        config: { ...inner.instructions.config, privacy: { clipNorm, noiseMultiplier } },
      },
      accept: (clientId, update) => {
        inner.accept(clientId, update);
        answered.push(clientId);
      },
      aggregate: async (options): Promise<RoundAggregate> => {
        const result = await inner.aggregate(options);
        return result.failure === undefined
          ? { ...result, privacyEpsilon: this.account(answered) }
          : result;
      },
    });
  }

  dispose(): void {
    this.inner.dispose?.();
  }
}
