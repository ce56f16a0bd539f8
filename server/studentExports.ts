/**
 * What the reduced-precision student exports cost and keep: each copy's
 * weight-file size and its test accuracy next to the float32 student's,
 * measured by loading the files back with `tf.loadLayersModel` (what a
 * deployment does) and running them on the same test inputs.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { LabeledData } from '../shared/data/types.js';
import type { WeightPrecision } from '../node/modelFiles.js';
import { loadLayersModelFromFile } from '../node/modelFiles.js';
import { argmaxRows, matchRate } from '../shared/predictions/index.js';

export interface StudentExport {
  precision: WeightPrecision;
  /** The model.json of this copy. */
  path: string;
  /** Bytes of its weight file(s). */
  weightBytes: number;
  /** Share of the test split it classifies right. */
  testAccuracy: number;
  /** Share of test samples where it predicts what the float32 student predicts. */
  agreementWithFloat32: number;
  /** Largest absolute difference of its logits from the float32 student's. */
  maxLogitDiff: number;
}

function predict(model: tf.LayersModel, test: LabeledData): Float32Array {
  const shape = model.inputs[0]!.shape.slice(1).map(Number);
  return tf.tidy(() => {
    const out = model.predict(tf.tensor(test.x, [test.count, ...shape])) as tf.Tensor;
    return out.dataSync() as Float32Array;
  });
}

/**
 * Measures each export found in `dirs` (precision → folder with model.json)
 * against the float32 one; `test` is capped at `maxSamples` rows (default 2000).
 */
export async function measureStudentExports(
  dirs: ReadonlyMap<WeightPrecision, string>,
  test: LabeledData,
  maxSamples = 2000,
): Promise<StudentExport[]> {
  const count = Math.min(test.count, maxSamples);
  const rowSize = test.x.length / Math.max(1, test.count);
  const sample: LabeledData = {
    x: test.x.subarray(0, count * rowSize),
    y: test.y.subarray(0, count),
    count,
  };
  const float32Dir = dirs.get('float32');
  if (!float32Dir || !existsSync(join(float32Dir, 'model.json'))) return [];
  const reference = await loadLayersModelFromFile(join(float32Dir, 'model.json'));
  const referenceLogits = predict(reference, sample);
  const classes = referenceLogits.length / Math.max(1, count);
  const referenceClasses = argmaxRows(referenceLogits, classes);
  reference.dispose();
  const results: StudentExport[] = [];
  for (const [precision, dir] of dirs) {
    const path = join(dir, 'model.json');
    if (!existsSync(path)) continue;
    const model = await loadLayersModelFromFile(path);
    const logits = predict(model, sample);
    model.dispose();
    const ours = argmaxRows(logits, classes);
    let maxLogitDiff = 0;
    for (let i = 0; i < logits.length; i++)
      maxLogitDiff = Math.max(maxLogitDiff, Math.abs(logits[i]! - referenceLogits[i]!));
    results.push({
      precision,
      path,
      weightBytes: statSync(join(dir, 'weights.bin')).size,
      testAccuracy: matchRate(ours, sample.y),
      agreementWithFloat32: matchRate(ours, referenceClasses),
      maxLogitDiff,
    });
  }
  return results;
}
