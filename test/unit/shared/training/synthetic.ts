/**
 * Small seeded synthetic tasks for the distillation-term tests: inputs, labels from a fixed
 * linear rule, a "teacher" whose soft labels follow the same rule and whose features are a
 * fixed non-linear projection of the inputs (any fixed map is a target the student can chase).
 */
import type { LabeledData, ProxyData } from '../../../../shared/data/index.js';

export function seededValues(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 31 - 1) * scale;
  }
  return out;
}

const CLASSES = 3;

function scores(x: Float32Array, row: number, inputSize: number): number[] {
  const rule = seededValues(inputSize * CLASSES, 99);
  return Array.from({ length: CLASSES }, (_, c) => {
    let z = 0;
    for (let k = 0; k < inputSize; k++) z += x[row * inputSize + k]! * rule[k * CLASSES + c]!;
    return z;
  });
}

/** `count` samples of `inputSize` inputs in [-1, 1), labelled by argmax of a fixed linear rule (3 classes). */
export function syntheticData(count: number, seed: number, inputSize = 8): LabeledData {
  const x = seededValues(count * inputSize, seed);
  const y = new Uint8Array(count);
  for (let r = 0; r < count; r++) {
    const z = scores(x, r, inputSize);
    y[r] = z.indexOf(Math.max(...z));
  }
  return { x, y, count };
}

/** A proxy set with the rule's softmax at temperature `T` as the teacher's soft labels. */
export function syntheticProxy(count: number, seed: number, T = 2, inputSize = 8): ProxyData {
  const x = seededValues(count * inputSize, seed);
  const softLabels = new Float32Array(count * CLASSES);
  for (let r = 0; r < count; r++) {
    const e = scores(x, r, inputSize).map((v) => Math.exp(v / T));
    const sum = e.reduce((a, b) => a + b, 0);
    e.forEach((v, c) => (softLabels[r * CLASSES + c] = v / sum));
  }
  return { x, softLabels, count };
}

/** Teacher features: tanh(x·P) with a fixed P [8, width], one row per proxy sample. */
export function syntheticTeacherFeatures(
  proxy: ProxyData,
  width: number,
  seed = 7,
): { values: Float32Array; width: number } {
  const inputSize = proxy.x.length / proxy.count;
  const projection = seededValues(inputSize * width, seed, 2 / Math.sqrt(inputSize));
  const values = new Float32Array(proxy.count * width);
  for (let r = 0; r < proxy.count; r++) {
    for (let j = 0; j < width; j++) {
      let z = 0;
      for (let k = 0; k < inputSize; k++) {
        z += proxy.x[r * inputSize + k]! * projection[k * width + j]!;
      }
      values[r * width + j] = Math.tanh(z);
    }
  }
  return { values, width };
}
