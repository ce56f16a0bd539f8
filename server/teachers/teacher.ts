/**
 * What the coordinator asks of a teacher, whatever runs it (tfjs in this
 * process, or ONNX Runtime for a PyTorch export): logits for a batch of
 * inputs, and optionally the activations of an intermediate layer for
 * feature-based distillation. Inputs and outputs are row-major Float32Arrays,
 * so no runtime's tensor type leaks past this interface.
 */

/** What the teacher's last layer emits. `auto` looks at the first batch. */
export type TeacherOutputs = 'logits' | 'probabilities' | 'auto';

/** Intermediate activations, one row of `width` values a sample (flattened). */
export interface TeacherFeatures {
  data: Float32Array;
  width: number;
  /** The layer (tfjs) or tensor (ONNX) they were read from. */
  layer: string;
}

export interface Teacher {
  readonly description: string;
  readonly numParams: number;
  /** Content hash of the teacher's files or weights: soft labels are cached under it. */
  readonly hash: string;
  /** Shape of one input, batch axis excluded (e.g. `[784]`, `[28, 28, 1]`, `[1, 28, 28]`). */
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  /** What computes the outputs, e.g. `tfjs:wasm`, `onnxruntime:cpu`, `onnxruntime:cuda`. */
  readonly backendName: string;
  /** Logits `[count, numClasses]` for row-major inputs `[count, ...inputShape]`. */
  logits(x: Float32Array, count: number): Promise<Float32Array>;
  /** Names `features` accepts; the first is its default. Empty when the teacher exposes none. */
  featureLayers(): string[];
  /** Activations of `layer` (default: `featureLayers()[0]`); throws naming the known layers for an unknown one. */
  features?(x: Float32Array, count: number, layer?: string): Promise<TeacherFeatures>;
  dispose(): void;
}

/**
 * A teacher that runs in this thread's tfjs backend and can also answer
 * synchronously (the simulation and the summary's timing loop call it so).
 */
export interface SyncTeacher extends Teacher {
  predictLogits(x: Float32Array, count: number): Float32Array;
}

export function looksLikeProbabilities(rows: Float32Array, numClasses: number): boolean {
  for (let r = 0; r < rows.length / numClasses; r++) {
    let sum = 0;
    for (let c = 0; c < numClasses; c++) {
      const v = rows[r * numClasses + c]!;
      if (v < 0 || v > 1) return false;
      sum += v;
    }
    if (Math.abs(sum - 1) > 1e-3) return false;
  }
  return true;
}

/**
 * Turns probabilities into logits in place: log is a logit up to a per-row
 * constant, which softmax ignores. Leaves logits as they are.
 */
export function toLogits(values: Float32Array, isProbabilities: boolean): Float32Array {
  if (isProbabilities) {
    for (let i = 0; i < values.length; i++) values[i] = Math.log(Math.max(values[i]!, 1e-12));
  }
  return values;
}

/** The error for a feature layer the teacher does not have, listing the ones it has. */
export function unknownFeatureLayer(what: string, layer: string, known: readonly string[]): Error {
  const shown = known.length > 40 ? [...known.slice(0, 40), `… ${known.length - 40} more`] : known;
  return new Error(
    known.length === 0
      ? `${what} exposes no feature layers (asked for '${layer}')`
      : `${what} has no feature layer '${layer}'; available: ${shown.join(', ')}`,
  );
}
