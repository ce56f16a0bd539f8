/** Mixing two sets of class distributions: FedDF's targets and logit exchange's consensus. */

/** `w·a + (1 − w)·b`, elementwise: blending two sets of distributions stays a set of distributions. */
export function blend(a: Float32Array, b: Float32Array, weightOfA: number): Float32Array {
  if (a.length !== b.length)
    throw new RangeError(`cannot blend ${a.length} probabilities with ${b.length}`);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = weightOfA * a[i]! + (1 - weightOfA) * b[i]!;
  return out;
}
