import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { buildModel, getFlatWeights, mlpSpec, setFlatWeights } from '../../../shared/index.js';
import {
  fileModelLoader,
  float16Bits,
  readModelFormat,
  saveModelAtomic,
} from '../../../node/modelFiles.js';

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

test('a truncated model.json, a missing weights file and short weights fail naming the file', async () => {
  await tf.setBackend('cpu');
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-model-'));
  try {
    const model = buildModel(mlpSpec(4, [3], 2), 5);
    await saveModelAtomic(model, join(dir, 'm'));
    model.dispose();
    const modelJson = join(dir, 'm', 'model.json');
    const weights = join(dir, 'm', 'weights.bin');
    const text = readFileSync(modelJson, 'utf8');
    const bytes = readFileSync(weights);

    writeFileSync(modelJson, text.slice(0, 40));
    await assert.rejects(
      fileModelLoader(modelJson).load!(),
      (error: Error) =>
        error.message.startsWith(`${modelJson} is not valid JSON (`) &&
        error.message.includes('40 characters read'),
    );
    await assert.rejects(readModelFormat(modelJson), (error: Error) =>
      error.message.startsWith(`${modelJson} is not valid JSON`),
    );
    writeFileSync(modelJson, text);

    rmSync(weights);
    await assert.rejects(fileModelLoader(modelJson).load!(), {
      message: `cannot read weights file of ${modelJson}: ${weights}: no such file`,
    });

    // 23 float32 weights need 92 bytes.
    writeFileSync(weights, bytes.subarray(0, 50));
    await assert.rejects(fileModelLoader(modelJson).load!(), (error: Error) =>
      error.message.startsWith(`weights of ${modelJson} hold 50 bytes, its manifest describes 92`),
    );
    await assert.rejects(readModelFormat(join(dir, 'none.json')), {
      message: `cannot read model file ${join(dir, 'none.json')}: no such file`,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('float16Bits rounds to the nearest half, ties to even, as IEEE 754 says', () => {
  // Values checked against numpy's float16 cast.
  const cases: [number, number][] = [
    [1, 0x3c00],
    [0.1, 0x2e66],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65520, 0x7c00], // rounds up past the largest half: infinity
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [3 * 2 ** -25, 0x0002], // halfway between subnormals 1 and 2: to even
    [1e-8, 0x0000],
    [-0, 0x8000],
    [1 + 2 ** -11, 0x3c00], // halfway between 1 and the next half: to even (down)
    [1 + 3 * 2 ** -11, 0x3c02], // halfway, odd below: up
  ];
  for (const [value, bits] of cases) assert.equal(float16Bits(value), bits, `${value}`);
});

test('float16 and uint8 exports load with tf.loadLayersModel, their weights within the quantisation step', async () => {
  await tf.setBackend('cpu');
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-model-'));
  try {
    // A linear model (4 inputs, 3 classes): 12 kernel + 3 bias weights.
    const model = buildModel(mlpSpec(4, [], 3), 9);
    // Biases start at zero; give every weight a distinct value, kernel and bias alike.
    setFlatWeights(
      model,
      Float32Array.from({ length: 15 }, (_, i) => Math.sin(i * 1.7) * 0.8),
    );
    const original = getFlatWeights(model);
    for (const precision of ['float16', 'uint8'] as const) {
      await saveModelAtomic(model, join(dir, precision), precision);
      const json = JSON.parse(
        readFileSync(join(dir, precision, 'model.json'), 'utf8'),
      ) as tf.io.ModelJSON;
      const specs = json.weightsManifest[0]!.weights;
      assert.equal(specs.length, 2);
      for (const spec of specs) {
        assert.equal(spec.dtype, 'float32', 'decoded dtype stays float32');
        assert.equal(spec.quantization?.dtype, precision);
      }
      const bytesPerWeight = precision === 'float16' ? 2 : 1;
      assert.equal(
        readFileSync(join(dir, precision, 'weights.bin')).byteLength,
        15 * bytesPerWeight,
      );
      const loaded = await tf.loadLayersModel(fileModelLoader(join(dir, precision, 'model.json')));
      const weights = getFlatWeights(loaded);
      let offset = 0;
      for (const spec of specs) {
        const size = spec.shape.reduce((a, b) => a * b, 1);
        for (let i = offset; i < offset + size; i++) {
          const bound =
            precision === 'float16'
              ? Math.abs(original[i]!) * 2 ** -11 + 2 ** -25
              : spec.quantization!.scale! / 2 + 1e-7;
          assert.ok(
            Math.abs(weights[i]! - original[i]!) <= bound,
            `${precision} ${spec.name}[${i - offset}]: ${weights[i]} vs ${original[i]} (bound ${bound})`,
          );
        }
        if (precision === 'uint8') {
          // The tensor's extremes are exact levels (q = 0 and q = 255).
          const slice = Array.from(original.subarray(offset, offset + size));
          const min = Math.min(...slice);
          assert.ok(Math.abs(spec.quantization!.min! - min) < 1e-7);
          assert.ok(Math.abs(spec.quantization!.scale! - (Math.max(...slice) - min) / 255) < 1e-9);
        }
        offset += size;
      }
      loaded.dispose();
    }
    model.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
