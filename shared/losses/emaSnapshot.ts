/**
 * An exponential moving average of a model's flat weights, the usual
 * "teacher" for self-distillation (mean-teacher style): smoother than the
 * last snapshot, and cheap — one Float32Array of the model's size, no tensors.
 */
import { DistillationInputError } from '../errors.js';

export class EmaSnapshot {
  readonly #weights: Float32Array;
  readonly #decay: number;
  #updates = 0;

  /**
   * @param initial the starting weights (copied; later changes to it do not leak in). Must be finite.
   * @param decay weight of the old average per update, in [0, 1): w ← decay·w + (1−decay)·current.
   *   0 makes the snapshot simply the latest weights.
   */
  constructor(initial: Float32Array, decay: number) {
    if (!(initial instanceof Float32Array)) {
      throw new DistillationInputError('EmaSnapshot initial weights must be a Float32Array');
    }
    if (typeof decay !== 'number' || !Number.isFinite(decay) || decay < 0 || decay >= 1) {
      throw new DistillationInputError(`EMA decay must be in [0, 1), got ${String(decay)}`);
    }
    requireFinite('initial', initial);
    this.#weights = Float32Array.from(initial);
    this.#decay = decay;
  }

  /**
   * Folds in the current weights. Rejects a wrong length or any NaN/Inf
   * before touching the average, so one bad step cannot poison it.
   */
  update(current: Float32Array): void {
    if (!(current instanceof Float32Array) || current.length !== this.#weights.length) {
      throw new DistillationInputError(
        `EMA update has length ${String((current as { length?: unknown } | null)?.length)}, ` +
          `expected ${this.#weights.length}`,
      );
    }
    requireFinite('current', current);
    const w = this.#weights;
    const d = this.#decay;
    const keep = 1 - d;
    for (let i = 0; i < w.length; i++) {
      w[i] = d * (w[i] as number) + keep * (current[i] as number);
    }
    this.#updates++;
  }

  /** A copy of the averaged weights (the snapshot cannot be changed through it). */
  get weights(): Float32Array {
    return Float32Array.from(this.#weights);
  }

  /** The decay given at construction. */
  get decay(): number {
    return this.#decay;
  }

  /** How many updates have been folded in. */
  get updates(): number {
    return this.#updates;
  }
}

function requireFinite(name: string, values: Float32Array): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new DistillationInputError(`EMA ${name} weights[${i}] = ${values[i]} is not finite`);
    }
  }
}
