/**
 * What a client keeps between rounds for its distillation terms and never
 * sends: the hint term's learned regressor (the student-to-teacher width
 * map, not part of the averaged weights) and the self term's EMA of the
 * global models it has received. The client creates one, passes it to every
 * `trainLocal` call of the run, and disposes it when the run ends.
 */
import { DistillationInputError } from '../errors.js';
import { EmaSnapshot, createHintRegressor } from '../losses/index.js';
import type { HintRegressor } from '../losses/index.js';

/** Largest hint regressor (kernel entries) a run may ask a client to learn. */
export const MAX_REGRESSOR_PARAMETERS = 1 << 22;

export class LocalDistillationState {
  #regressor: HintRegressor | undefined;
  #ema: EmaSnapshot | undefined;
  #disposed = false;

  /** The hint regressor learned so far (trained in place by trainLocal), if any. */
  get hintRegressor(): HintRegressor | undefined {
    return this.#regressor;
  }

  /** The self term's EMA teacher weights so far, if any (a copy). */
  get emaWeights(): Float32Array | undefined {
    return this.#ema?.weights;
  }

  /**
   * The regressor from `studentWidth` to `teacherWidth`, created (seeded) on first use and
   * reused after. Throws DistillationInputError when the widths changed since it was created
   * (another teacher layer or student) or the map is over {@link MAX_REGRESSOR_PARAMETERS}.
   * @internal trainLocal's
   */
  regressor(studentWidth: number, teacherWidth: number, seed: number): HintRegressor {
    this.#requireLive();
    const existing = this.#regressor;
    if (existing !== undefined) {
      const [ds, dt] = existing.kernel.shape;
      if (ds !== studentWidth || dt !== teacherWidth) {
        throw new DistillationInputError(
          `teacherFeatures.width: the client's hint regressor maps width ${ds} to ${dt}, but this ` +
            `round has student width ${studentWidth} and teacher width ${teacherWidth}; ` +
            'a run keeps its feature layers (start a new LocalDistillationState for a new run)',
        );
      }
      return existing;
    }
    if (studentWidth * teacherWidth > MAX_REGRESSOR_PARAMETERS) {
      throw new DistillationInputError(
        `teacherFeatures.width: a hint regressor from student width ${studentWidth} to teacher ` +
          `width ${teacherWidth} has ${studentWidth * teacherWidth} weights, over the limit ` +
          `${MAX_REGRESSOR_PARAMETERS}`,
      );
    }
    this.#regressor = createHintRegressor(studentWidth, teacherWidth, seed);
    return this.#regressor;
  }

  /**
   * Folds this round's global weights into the EMA (the first call starts it at them) and
   * returns the EMA: the self term's teacher when its `ema` decay is above 0.
   * @internal trainLocal's
   */
  emaTeacher(globalWeights: Float32Array, decay: number): Float32Array {
    this.#requireLive();
    if (this.#ema === undefined || this.#ema.decay !== decay) {
      if (this.#ema !== undefined) {
        throw new DistillationInputError(
          `distillation self.ema changed from ${this.#ema.decay} to ${decay} within a run`,
        );
      }
      this.#ema = new EmaSnapshot(globalWeights, decay);
    } else {
      this.#ema.update(globalWeights);
    }
    return this.#ema.weights;
  }

  /** Releases the regressor's variables. The state cannot be used after. */
  dispose(): void {
    this.#regressor?.dispose();
    this.#regressor = undefined;
    this.#ema = undefined;
    this.#disposed = true;
  }

  #requireLive(): void {
    if (this.#disposed) throw new DistillationInputError('LocalDistillationState was disposed');
  }
}
