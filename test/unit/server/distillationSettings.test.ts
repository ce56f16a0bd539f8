/**
 * A run's distillation terms as settings: they reach the config through the
 * CLI flag or a file, and bad ones fail before the first round with an error
 * naming the field — an unknown term, a teacher term under a strategy without
 * a teacher, a teacher layer that does not exist, widths no regressor maps.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { parseDistillationFlag } from '../../../cli/distillationFlag.js';
import { ArtifactStore } from '../../../server/artifacts.js';
import { DEFAULT_TRAINING, parseCoordinatorConfig } from '../../../server/config.js';
import { prepareTeacherFeatures } from '../../../server/teacherFeatures.js';
import { teacherFromLayersModel } from '../../../server/teachers/index.js';
import { buildModel, createCodec, decodeFeatures, mlpSpec } from '../../../shared/index.js';
import type { DistillationTerm } from '../../../shared/index.js';

const dir = mkdtempSync(join(tmpdir(), 'fedistill-distillation-settings-'));
before(async () => {
  await tf.setBackend('cpu');
});
after(() => rmSync(dir, { recursive: true, force: true }));

const withTerms = (strategy: string, distillation: unknown) => ({
  strategy,
  training: { ...DEFAULT_TRAINING, distillation },
});

test('--distillation: names with optional weights, or a JSON array; bad text is refused', () => {
  assert.deepEqual(parseDistillationFlag('response,hint=0.5'), [
    { name: 'response', weight: 1 },
    { name: 'hint', weight: 0.5 },
  ]);
  assert.deepEqual(parseDistillationFlag('[{"name":"pkt","weight":2}]'), [
    { name: 'pkt', weight: 2 },
  ]);
  assert.throws(() => parseDistillationFlag('hint=x'), /weight is not a number/);
  assert.throws(() => parseDistillationFlag('[{"name"'), /JSON/);
});

test('an unknown term, or a teacher term under a strategy without a teacher, fails naming the field', () => {
  assert.throws(
    () => parseCoordinatorConfig(withTerms('fedkd', [{ name: 'fitnet', weight: 1 }])),
    /fitnet.*training\.distillation\[0\]\.name/s,
  );
  assert.throws(
    () => parseCoordinatorConfig(withTerms('fedavg', [{ name: 'hint', weight: 1 }])),
    (error: Error) =>
      /training\.distillation\[0\]\.name/.test(error.message) &&
      /fedavg has none/.test(error.message),
  );
  // Self-distillation needs no teacher: fedavg takes it.
  const config = parseCoordinatorConfig(withTerms('fedavg', [{ name: 'self', weight: 1 }]));
  assert.deepEqual(config.training.distillation, [{ name: 'self', weight: 1 }]);
});

function teacherAndOptions(terms: DistillationTerm[], layer?: string) {
  const teacher = teacherFromLayersModel(buildModel(mlpSpec(4, [6, 5], 3), 1), {
    description: 'test teacher',
    hash: 'teacherhash0123456789',
    outputs: 'logits',
  });
  const proxyX = Float32Array.from({ length: 8 * 4 }, (_, i) => Math.sin(i));
  return {
    teacher,
    options: {
      teacher,
      proxyX,
      proxyCount: 8,
      proxyHash: 'proxyhash0123456789',
      layer,
      precision: 'float32' as const,
      studentSpec: mlpSpec(4, [2], 3),
      terms,
      artifacts: new ArtifactStore(join(dir, 'artifacts')),
      codec: createCodec(),
      log: () => undefined,
    },
  };
}

test('teacher features: the penultimate layer by default, stored as an artifact clients decode', async () => {
  const { teacher, options } = teacherAndOptions([{ name: 'hint', weight: 1 }]);
  const ref = await prepareTeacherFeatures(options);
  assert.equal(ref.width, 5, "the teacher's last hidden layer has 5 units");
  const decoded = decodeFeatures(createCodec().decode((await options.artifacts.get(ref.hash))!));
  assert.equal(decoded.count, 8);
  const expected = await teacher.features!(options.proxyX, 8);
  decoded.values.forEach((v, i) => assert.ok(Math.abs(v - expected.data[i]!) < 1e-6));
  teacher.dispose();
});

test('a teacher layer that does not exist, or a hint whose widths cannot be mapped, fails before any round', async () => {
  const missing = teacherAndOptions([{ name: 'hint', weight: 1 }], 'no-such-layer');
  await assert.rejects(prepareTeacherFeatures(missing.options), /no-such-layer/);
  missing.teacher.dispose();
  const noRegressor = teacherAndOptions([{ name: 'hint', weight: 1, regressor: 'none' }]);
  await assert.rejects(
    prepareTeacherFeatures(noRegressor.options),
    /training\.distillation\[0\]\.regressor is 'none'.*width 2.*5/,
  );
  noRegressor.teacher.dispose();
});
