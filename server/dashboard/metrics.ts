/** Numbers the dashboard shows that the coordinator does not compute itself. */

/**
 * Mean cross-entropy of logits against labels (the teacher's test loss, the
 * flat reference line beside the student's loss on the dashboard).
 * `logits` is row-major `[labels.length, numClasses]`.
 */
export function meanCrossEntropy(
  logits: Float32Array,
  labels: ArrayLike<number>,
  numClasses: number,
): number | null {
  const rows = labels.length;
  if (rows === 0 || logits.length !== rows * numClasses) return null;
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let c = 0; c < numClasses; c++) max = Math.max(max, logits[r * numClasses + c]!);
    let z = 0;
    for (let c = 0; c < numClasses; c++) z += Math.exp(logits[r * numClasses + c]! - max);
    sum += Math.log(z) + max - logits[r * numClasses + labels[r]!]!;
  }
  return sum / rows;
}
