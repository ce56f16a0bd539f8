import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { buildModel, getFlatWeights, mlpSpec } from '../../../shared/index.js';
import { fileModelLoader, readModelFormat, saveModelAtomic } from '../../../node/modelFiles.js';

test('a saved model is standard tfjs files that tf.loadLayersModel reads back exactly', async () => {
  await tf.setBackend('cpu');
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-model-'));
  try {
    const model = buildModel(mlpSpec(4, [3], 2), 5);
    await saveModelAtomic(model, join(dir, 'student'));
    const json = JSON.parse(
      readFileSync(join(dir, 'student', 'model.json'), 'utf8'),
    ) as tf.io.ModelJSON;
    assert.equal(json.format, 'layers-model');
    assert.deepEqual(json.weightsManifest[0]!.paths, ['weights.bin']);
    // 4·3+3 + 3·2+2 = 23 float32 weights = 92 bytes
    assert.equal(readFileSync(join(dir, 'student', 'weights.bin')).byteLength, 92);
    const loaded = await tf.loadLayersModel(fileModelLoader(join(dir, 'student', 'model.json')));
    assert.deepEqual(getFlatWeights(loaded), getFlatWeights(model));
    assert.equal(await readModelFormat(join(dir, 'student', 'model.json')), 'layers-model');

    // Saving again replaces the folder whole and leaves no staging folders behind.
    const other = buildModel(mlpSpec(4, [3], 2), 6);
    await saveModelAtomic(other, join(dir, 'student'));
    const reloaded = await tf.loadLayersModel(fileModelLoader(join(dir, 'student', 'model.json')));
    assert.deepEqual(getFlatWeights(reloaded), getFlatWeights(other));
    assert.deepEqual(readdirSync(dir), ['student']);
    for (const m of [model, loaded, other, reloaded]) m.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a model.json without topology or manifest is refused by name', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-model-'));
  try {
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ hello: 1 }));
    await assert.rejects(
      fileModelLoader(join(dir, 'model.json')).load!(),
      /is not a tfjs model.json/,
    );
    assert.ok(existsSync(join(dir, 'model.json')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
