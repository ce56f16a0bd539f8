/**
 * The last checks before a round's result replaces the global student:
 * - `verifyDelta` / `verifyWeights`: the aggregated delta and the new weights (w + Δ, after the
 *   server optimiser and any server-side distillation) are finite and within `maxWeight`. A
 *   delta can be fine alone and still overflow float32 once added to the weights, so both are
 *   checked;
 * - `AccuracyGuard`: after evaluation, a collapse of test accuracy beyond `maxAccuracyDrop`
 *   against the last good model sends the round back to that model.
 * Each returns the reason the round fails, or undefined when it may stand.
 */
import type { ModelGuardConfig } from './config.js';

function show(value: number): string {
  return Number.isFinite(value) ? String(Number(value.toPrecision(6))) : String(value);
}

function firstOutOfBounds(values: Float32Array, bound: number): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    // `!(|v| ≤ bound)` is true for NaN too.
    if (!(Math.abs(v) <= bound)) return i;
  }
  return -1;
}

/** Why the round's aggregated delta cannot be applied, or undefined. */
export function verifyDelta(delta: Float32Array, expectedLength: number): string | undefined {
  if (delta.length !== expectedLength)
    return `aggregated delta has ${delta.length} values, the student ${expectedLength}`;
  const i = firstOutOfBounds(delta, Number.MAX_VALUE);
  return i < 0 ? undefined : `aggregated delta: value ${i} is ${delta[i]}, not finite`;
}

/** Why `weights` may not become the global student, or undefined. */
export function verifyWeights(
  weights: Float32Array,
  expectedLength: number,
  config: Pick<ModelGuardConfig, 'maxWeight'>,
): string | undefined {
  if (weights.length !== expectedLength)
    return `new global weights have ${weights.length} values, the student ${expectedLength}`;
  const i = firstOutOfBounds(weights, config.maxWeight);
  if (i < 0) return undefined;
  const v = weights[i]!;
  return Number.isFinite(v)
    ? `new global weight ${i} is ${show(v)}, beyond ±${show(config.maxWeight)}`
    : `new global weight ${i} is ${v}, not finite`;
}

/** `base + delta` element-wise, as the global model would get it (float32), without touching either. */
export function addDelta(base: Float32Array, delta: Float32Array): Float32Array {
  const out = new Float32Array(base.length);
  for (let i = 0; i < out.length; i++) out[i] = base[i]! + delta[i]!;
  return out;
}

/**
 * Remembers the test accuracy of the last good global student and judges each new one.
 * Off (every round stands) when `maxAccuracyDrop` is not set.
 */
export class AccuracyGuard {
  private reference: number | undefined;

  /** @param lastGoodAccuracy the accuracy of the model a resumed run starts from, if known. */
  constructor(
    private readonly config: Pick<ModelGuardConfig, 'maxAccuracyDrop'>,
    lastGoodAccuracy?: number | null,
  ) {
    if (lastGoodAccuracy !== undefined && lastGoodAccuracy !== null)
      this.reference = lastGoodAccuracy;
  }

  /** The accuracy a new model is compared with: the last good one's, undefined before any. */
  get lastGoodAccuracy(): number | undefined {
    return this.reference;
  }

  /**
   * Why the model that scored `accuracy` must be rolled back, or undefined (then it is the last
   * good model from now on). Not finite accuracy is always a reason.
   */
  judge(accuracy: number): string | undefined {
    if (!Number.isFinite(accuracy)) return `test accuracy is ${accuracy}`;
    const limit = this.config.maxAccuracyDrop;
    const reference = this.reference;
    if (limit !== undefined && reference !== undefined && reference - accuracy > limit) {
      return `test accuracy fell from ${(reference * 100).toFixed(2)}% to ${(accuracy * 100).toFixed(2)}%, more than the guard's ${(limit * 100).toFixed(2)} points`;
    }
    this.reference = accuracy;
    return undefined;
  }
}
