/**
 * Top-1 classes and how often two sets of them agree: the coordinator's
 * student-vs-teacher agreement, accuracies against labels, and the hard labels
 * that server-side distillation derives from its soft targets all use these.
 */

/** The index of the largest value of each row of a `[rows × numClasses]` matrix (first on ties). */
export function argmaxRows(values: ArrayLike<number>, numClasses: number): Int32Array {
  if (!Number.isInteger(numClasses) || numClasses < 1)
    throw new RangeError(`numClasses must be a positive integer, got ${numClasses}`);
  if (values.length % numClasses !== 0)
    throw new RangeError(`${values.length} values do not form rows of ${numClasses} classes`);
  const rows = values.length / numClasses;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const offset = r * numClasses;
    let best = 0;
    for (let c = 1; c < numClasses; c++) {
      if (values[offset + c]! > values[offset + best]!) best = c;
    }
    out[r] = best;
  }
  return out;
}

/**
 * Share of positions where `a` and `b` hold the same class: accuracy when `b` holds labels,
 * agreement when it holds another model's predictions. 0 for empty inputs.
 */
export function matchRate(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length)
    throw new RangeError(`cannot compare ${a.length} classes with ${b.length}`);
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same += 1;
  return same / Math.max(1, a.length);
}
