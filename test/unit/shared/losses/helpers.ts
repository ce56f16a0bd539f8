/**
 * Test helpers for the loss tests: scalar read-back, leak checks, and a
 * central finite-difference gradient check against tf.grad.
 */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { DistillationInputError } from '../../../../shared/errors.js';

/** Reads a scalar loss and disposes it. */
export function valueOf(t: tf.Scalar): number {
  const v = t.dataSync()[0] as number;
  t.dispose();
  return v;
}

/**
 * Runs `f` (which must return a tensor) and asserts the tensor count after
 * disposing its result equals the count before: nothing leaked inside.
 */
export function noLeak(f: () => tf.Tensor): number {
  const before = tf.memory().numTensors;
  const out = f();
  const value = out.dataSync()[0] as number;
  out.dispose();
  assert.equal(tf.memory().numTensors, before, 'tensor count changed: the call leaked');
  return value;
}

export function assertClose(actual: number, expected: number, tol = 1e-5, what = ''): void {
  assert.ok(
    Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)),
    `${what} expected ${expected}, got ${actual} (tol ${tol})`,
  );
}

/**
 * Compares tf.grad(loss)(x) with central differences (loss(x+h) − loss(x−h)) / 2h
 * on every element of x, and checks tf.grad leaves no tensors behind. Returns
 * the analytic gradient values.
 */
export function gradCheck(
  loss: (x: tf.Tensor2D) => tf.Scalar,
  values: number[][],
  h = 1e-2,
  tol = 1e-2,
): Float32Array {
  const x = tf.tensor2d(values);
  const before = tf.memory().numTensors;
  const g = tf.grad((t: tf.Tensor) => loss(t as tf.Tensor2D))(x);
  const analytic = Float32Array.from(g.dataSync());
  g.dispose();
  assert.equal(tf.memory().numTensors, before, 'tf.grad of the loss leaked tensors');
  x.dispose();

  const rows = values.length;
  const cols = (values[0] as number[]).length;
  const at = (shifted: number[][]): number => {
    const t = tf.tensor2d(shifted);
    const v = valueOf(loss(t));
    t.dispose();
    return v;
  };
  // Float32 differences are noisy for small entries, so the tolerance floor is
  // relative to the gradient's largest entry (and never below 0.1).
  const floor = Math.max(0.1, 0.2 * Math.max(...Array.from(analytic, Math.abs)));
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const plus = values.map((row) => row.slice());
      const minus = values.map((row) => row.slice());
      (plus[r] as number[])[c] = ((values[r] as number[])[c] as number) + h;
      (minus[r] as number[])[c] = ((values[r] as number[])[c] as number) - h;
      const numeric = (at(plus) - at(minus)) / (2 * h);
      const a = analytic[r * cols + c] as number;
      assert.ok(Number.isFinite(a), `gradient [${r},${c}] is not finite: ${a}`);
      assert.ok(
        Math.abs(a - numeric) <= tol * Math.max(floor, Math.abs(a), Math.abs(numeric)),
        `gradient [${r},${c}]: tf.grad ${a} vs finite difference ${numeric}`,
      );
    }
  }
  return analytic;
}

/** Asserts `f` throws DistillationInputError whose message matches every pattern. */
export function throwsInput(f: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(f, (err: unknown) => {
    assert.ok(
      err instanceof DistillationInputError,
      `expected DistillationInputError, got ${String(err)}`,
    );
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}
