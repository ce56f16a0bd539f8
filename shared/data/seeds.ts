/**
 * Every seed the system derives from a run's seed, in one place: each random
 * stream (client sampling, the proxy sample of logit exchange, a client's batch
 * order) gets its own multiplier, so two streams never share a seed for the same
 * round and a run's randomness is reproducible from `seed` alone.
 *
 * The multipliers are primes; changing one changes every seeded result that
 * depends on it (test expectations and docs/results.md).
 */
export const SEED_STREAMS = {
  /** Which clients a round samples: `deriveSeed(runSeed, 'sampling', roundId)`. */
  sampling: 100_003,
  /** A simulation's virtual client seeds: `deriveSeed(runSeed, 'clients', clientIndex)`. */
  clients: 100_003,
  /** Centralised training's batch order per round: `deriveSeed(runSeed, 'centralRounds', round)`. */
  centralRounds: 100_003,
  /** Which proxy samples a logit-exchange round asks for: `deriveSeed(runSeed, 'proxySample', roundId)`. */
  proxySample: 7_919,
  /** How a simulation deals its client pool: `deriveSeed(runSeed, 'partition', 17)`. */
  partition: 7_919,
  /** A client's batch order and dropout in a round: `deriveSeed(roundId, 'clientBatches', clientSeed)`. */
  clientBatches: 1_000_003,
} as const;

export type SeedStream = keyof typeof SEED_STREAMS;

/** The seed of `stream` for item `index` (a round, a client) of a run seeded with `base`. */
export function deriveSeed(base: number, stream: SeedStream, index: number): number {
  return base * SEED_STREAMS[stream] + index;
}
