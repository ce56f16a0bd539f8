/**
 * Settings of the coordinator's defences against updates that would corrupt the global student
 * (docs/reliability.md): the per-update bound, the check of each new global model, and the
 * optional accuracy guard. `server/config.ts` puts them in the coordinator's config.
 */
import { z } from 'zod';

const positive = z.number().positive();

export const updateBoundSchema = z.strictObject({
  /**
   * What happens to a delta whose L2 norm is over the round's bound: `clip` scales it down to
   * the bound and accepts it (the update's record says `clipped: …`), `refuse` refuses it
   * (`rejected-weights`). A coordinate beyond `maxCoordinate` is refused either way.
   * Defaults to clip.
   */
  onExcess: z.enum(['clip', 'refuse']).default('clip'),
  /**
   * The largest norm any delta may have, and the bound of the first round (before any norm has
   * been seen). Defaults to 100.
   */
  maxNorm: positive.default(100),
  /**
   * After the first aggregated round the bound adapts: this many times the median norm of the
   * deltas accepted in the last `historyRounds` rounds (never above `maxNorm`). Defaults to 5.
   */
  medianMultiple: positive.default(5),
  /** The adaptive bound never goes below this (late rounds move little). Defaults to 1. */
  minNorm: positive.default(1),
  /** Aggregated rounds whose accepted norms make the median. Defaults to 5. */
  historyRounds: z.number().int().min(1).max(1000).default(5),
  /**
   * The largest |Δᵢ| any coordinate of a delta may have; a delta with a larger (or non-finite)
   * one is refused. Defaults to 10.
   */
  maxCoordinate: positive.default(10),
});
export type UpdateBoundConfig = z.output<typeof updateBoundSchema>;

export const DEFAULT_UPDATE_BOUND: UpdateBoundConfig = updateBoundSchema.parse({});

export const modelGuardSchema = z.strictObject({
  /**
   * The largest |wᵢ| the global student may hold. A round whose new weights (w + Δ, after the
   * server optimiser) hold a larger or non-finite one fails, the global student unchanged.
   * Defaults to 1000.
   */
  maxWeight: positive.default(1000),
  /**
   * When set: a round whose global student's test accuracy is more than this far (a fraction,
   * 0.1 = ten points) below the last good model's is rolled back to that model and recorded as
   * failed with why. Defaults to off.
   */
  maxAccuracyDrop: z.number().gt(0).max(1).optional(),
});
export type ModelGuardConfig = z.output<typeof modelGuardSchema>;

export const DEFAULT_MODEL_GUARD: ModelGuardConfig = modelGuardSchema.parse({});
