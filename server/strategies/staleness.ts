/**
 * How much an asynchronous update counts for, given its staleness τ: the
 * number of global model versions published between the one the client trained
 * from and the one its update is folded into (computed at the coordinator from
 * what it sent the client, never taken from the client). FedBuff (Nguyen et
 * al. 2022) scales each buffered delta by s(τ) before averaging; the forms
 * below are those of FedAsync (Xie et al. 2019), which FedBuff uses.
 *
 * - polynomial: s(τ) = (1 + τ)^(−a)   (a = 0.5: 1/√(1+τ), FedBuff's choice)
 * - hinge:      s(τ) = 1 for τ ≤ b, else 1 / (a·(τ − b) + 1)
 * - constant:   s(τ) = 1               (staleness ignored)
 */
import { z } from 'zod';

export const stalenessWeightingSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('polynomial'),
    /** a in (1 + τ)^(−a). Defaults to 0.5 (1/√(1+τ)). */
    exponent: z.number().min(0).max(10).default(0.5),
  }),
  z.strictObject({
    kind: z.literal('hinge'),
    /** a: how fast the weight falls past b. Defaults to 10. */
    slope: z.number().positive().default(10),
    /** b: staleness that still counts fully. Defaults to 4. */
    after: z.number().int().min(0).default(4),
  }),
  z.strictObject({ kind: z.literal('constant') }),
]);
export type StalenessWeighting = z.output<typeof stalenessWeightingSchema>;

/** s(τ) for a staleness τ ≥ 0 (an integer count of versions). */
export function stalenessWeight(staleness: number, weighting: StalenessWeighting): number {
  if (!Number.isInteger(staleness) || staleness < 0)
    throw new RangeError(`staleness must be a whole number ≥ 0, got ${staleness}`);
  switch (weighting.kind) {
    case 'polynomial':
      return (1 + staleness) ** -weighting.exponent;
    case 'hinge':
      return staleness <= weighting.after
        ? 1
        : 1 / (weighting.slope * (staleness - weighting.after) + 1);
    case 'constant':
      return 1;
  }
}

/** One line naming the weighting, for notes and reports: `1/(1+τ)^0.5`. */
export function describeWeighting(weighting: StalenessWeighting): string {
  switch (weighting.kind) {
    case 'polynomial':
      return `(1+τ)^-${weighting.exponent}`;
    case 'hinge':
      return `1 for τ ≤ ${weighting.after}, else 1/(${weighting.slope}·(τ−${weighting.after})+1)`;
    case 'constant':
      return '1';
  }
}

export const fedBuffSchema = z.strictObject({
  /**
   * K: updates the coordinator buffers before it aggregates them into a new global version.
   * Defaults to 10.
   */
  bufferSize: z.number().int().min(1).max(100_000).default(10),
  /** s(τ), how much an update trained τ versions ago counts. Defaults to polynomial, a = 0.5. */
  staleness: stalenessWeightingSchema.default({ kind: 'polynomial', exponent: 0.5 }),
  /**
   * An update with τ above this is refused (`stale-model`, the reason recorded) and its client
   * is sent the current model. Defaults to 10.
   */
  maxStaleness: z.number().int().min(0).max(100_000).default(10),
  /**
   * η_g: the global model moves by η_g·(1/n)·Σ s(τᵢ)·Δᵢ over the n buffered updates (then the
   * server optimiser, if any). Defaults to 1.
   */
  serverLearningRate: z.number().positive().max(1000).default(1),
});
export type FedBuffSettings = z.output<typeof fedBuffSchema>;

export const DEFAULT_FEDBUFF: FedBuffSettings = fedBuffSchema.parse({});
