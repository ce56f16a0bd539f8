/**
 * Row-wise softmax of `values / temperature` on plain typed arrays, for code
 * that holds logits (or probabilities to sharpen) outside tfjs. Subtracts each
 * row's maximum first, so large inputs do not overflow.
 */
export function softmaxRows(
  values: Float32Array,
  numClasses: number,
  temperature: number,
): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < values.length / numClasses; r++) {
    let max = -Infinity;
    for (let c = 0; c < numClasses; c++)
      max = Math.max(max, values[r * numClasses + c]! / temperature);
    let sum = 0;
    for (let c = 0; c < numClasses; c++) {
      const e = Math.exp(values[r * numClasses + c]! / temperature - max);
      out[r * numClasses + c] = e;
      sum += e;
    }
    for (let c = 0; c < numClasses; c++) out[r * numClasses + c]! /= sum;
  }
  return out;
}
