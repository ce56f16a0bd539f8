/**
 * Up-front checks shared by the losses. Each throws DistillationInputError
 * with a message that names the offending tensor, its shape and the value,
 * so a wrong call fails at the call site instead of as a NaN many steps later.
 * Internal to shared/losses (not re-exported).
 */
import type * as tf from '@tensorflow/tfjs';
import { DistillationInputError } from '../errors.js';

/** Tolerance on a probability row's sum (float16/uint8 soft labels drift a little). */
export const ROW_SUM_TOLERANCE = 1e-3;

/**
 * Duck-typed tensor test: `instanceof` fails when two copies of tfjs-core end
 * up in one bundle or process, and every tensor has these fields.
 */
function isTensor(t: unknown): t is tf.Tensor {
  return (
    typeof t === 'object' &&
    t !== null &&
    Array.isArray((t as tf.Tensor).shape) &&
    typeof (t as tf.Tensor).rank === 'number' &&
    typeof (t as tf.Tensor).dtype === 'string'
  );
}

/** `[2,3]` — compact shape text for messages. */
export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** A float 2-D tensor with at least one row and one column; returns [rows, cols]. */
export function requireMatrix(name: string, t: tf.Tensor): [number, number] {
  if (!isTensor(t)) {
    throw new DistillationInputError(`${name} must be a tf.Tensor, got ${typeof t}`);
  }
  if (t.rank !== 2) {
    throw new DistillationInputError(
      `${name} must be rank 2 [batch, width], got rank ${t.rank} shape ${shapeText(t.shape)}`,
    );
  }
  if (t.dtype !== 'float32') {
    throw new DistillationInputError(
      `${name} must be float32, got ${t.dtype} (shape ${shapeText(t.shape)})`,
    );
  }
  const [rows, cols] = t.shape as [number, number];
  if (rows < 1 || cols < 1) {
    throw new DistillationInputError(`${name} must be non-empty, got shape ${shapeText(t.shape)}`);
  }
  return [rows, cols];
}

/** Two tensors that must have exactly the same shape. */
export function requireSameShape(aName: string, a: tf.Tensor, bName: string, b: tf.Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new DistillationInputError(
      `${bName} shape ${shapeText(b.shape)} does not match ${aName} shape ${shapeText(a.shape)}`,
    );
  }
}

/** Two tensors whose first (batch) dimension must agree. */
export function requireSameBatch(aName: string, a: tf.Tensor, bName: string, b: tf.Tensor): void {
  if (a.shape[0] !== b.shape[0]) {
    throw new DistillationInputError(
      `batch mismatch: ${aName} has shape ${shapeText(a.shape)} but ${bName} has shape ${shapeText(b.shape)}`,
    );
  }
}

/** A softmax temperature: finite and > 0. */
export function requireTemperature(temperature: number): void {
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature <= 0) {
    throw new DistillationInputError(
      `temperature must be a finite number > 0, got ${String(temperature)}`,
    );
  }
}

/** The hard/soft mixing weight α: finite and in [0, 1]. */
export function requireAlpha(alpha: number): void {
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha < 0 || alpha > 1) {
    throw new DistillationInputError(`alpha must be in [0, 1], got ${String(alpha)}`);
  }
}

/**
 * Every row of a [B, C] tensor must be a probability distribution: finite,
 * non-negative entries summing to 1 ± ROW_SUM_TOLERANCE. Zeros are allowed
 * (top-k sparse soft labels). Reads the values back (a sync on GPU backends).
 */
export function requireDistributionRows(name: string, t: tf.Tensor2D): void {
  const [rows, cols] = t.shape;
  const values = t.dataSync();
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < cols; c++) {
      const v = values[r * cols + c] as number;
      if (!Number.isFinite(v) || v < 0) {
        throw new DistillationInputError(
          `${name} (shape ${shapeText(t.shape)}) must hold probabilities: ` +
            `${name}[${r},${c}] = ${v}`,
        );
      }
      sum += v;
    }
    if (Math.abs(sum - 1) > ROW_SUM_TOLERANCE) {
      throw new DistillationInputError(
        `${name} (shape ${shapeText(t.shape)}) rows must sum to 1 ± ${ROW_SUM_TOLERANCE}: ` +
          `row ${r} sums to ${sum}`,
      );
    }
  }
}

/**
 * Labels as class indices [B] (int32, or float32 holding whole numbers) or as
 * one-hot / soft rows [B, C]. Checks shape against the student's [B, C] and,
 * when `checkValues`, that indices are whole numbers in [0, C) and rows are
 * distributions.
 */
export function requireLabels(
  labels: tf.Tensor,
  batch: number,
  numClasses: number,
  checkValues: boolean,
): void {
  if (!isTensor(labels)) {
    throw new DistillationInputError(`labels must be a tf.Tensor, got ${typeof labels}`);
  }
  const expected = `[${batch}] (class indices) or [${batch},${numClasses}] (one-hot)`;
  if (labels.rank === 1) {
    if (labels.shape[0] !== batch) {
      throw new DistillationInputError(
        `labels shape ${shapeText(labels.shape)} does not match the batch: expected ${expected}`,
      );
    }
    if (labels.dtype !== 'int32' && labels.dtype !== 'float32') {
      throw new DistillationInputError(
        `class-index labels must be int32, got ${labels.dtype} (shape ${shapeText(labels.shape)})`,
      );
    }
    if (!checkValues) return;
    const values = labels.dataSync();
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (!Number.isInteger(v) || v < 0 || v >= numClasses) {
        throw new DistillationInputError(
          `labels[${i}] = ${v} is not a class index in [0, ${numClasses}) ` +
            `(labels shape ${shapeText(labels.shape)}, ${numClasses} classes)`,
        );
      }
    }
    return;
  }
  if (labels.rank === 2) {
    if (labels.shape[0] !== batch || labels.shape[1] !== numClasses) {
      throw new DistillationInputError(
        `labels shape ${shapeText(labels.shape)} does not match the student: expected ${expected}`,
      );
    }
    if (labels.dtype !== 'float32') {
      throw new DistillationInputError(
        `one-hot labels must be float32, got ${labels.dtype} (shape ${shapeText(labels.shape)})`,
      );
    }
    if (checkValues) requireDistributionRows('labels', labels as tf.Tensor2D);
    return;
  }
  throw new DistillationInputError(
    `labels must be rank 1 or 2, got rank ${labels.rank} shape ${shapeText(labels.shape)}: expected ${expected}`,
  );
}

/** A relation loss needs at least `min` samples in the batch. */
export function requireMinBatch(name: string, t: tf.Tensor, min: number, why: string): void {
  if ((t.shape[0] as number) < min) {
    throw new DistillationInputError(
      `${name} has shape ${shapeText(t.shape)}: ${why} needs a batch of at least ${min}`,
    );
  }
}
