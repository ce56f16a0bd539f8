/**
 * A labelled dataset held as flat typed arrays, the form every part of
 * fedistill passes around: cheap to slice, send and hand to tfjs.
 */
export interface LabeledData {
  /** Features, row-major `[count, ...inputShape]`, usually scaled to 0..1. */
  readonly x: Float32Array;
  /** Class index of each row. */
  readonly y: Uint8Array | Int32Array;
  readonly count: number;
}

/** Public proxy inputs with the teacher's soft labels on them. */
export interface ProxyData {
  /** Features, row-major `[count, ...inputShape]`. */
  readonly x: Float32Array;
  /** Teacher probabilities at the round's temperature, row-major `[count, numClasses]`. */
  readonly softLabels: Float32Array;
  readonly count: number;
}
