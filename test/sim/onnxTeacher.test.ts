/**
 * `fedistill simulate` with a PyTorch teacher: a YAML naming the committed ONNX fixture
 * (test/fixtures/onnx/small-cnn.onnx, a CNN on 28×28 digits) as `teacher.file`, and its
 * `features` output as `teacherFeatures.layer` for the hint term. The run's soft labels and
 * teacher features, read back from the artifacts the coordinator served, are that teacher's
 * own outputs on the proxy set, not a trained default teacher's.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  createCodec,
  decodeFeatures,
  decodeProxyInputs,
  decodeSoftLabels,
  FEATURE_SET_FORMAT,
  PROXY_INPUTS_FORMAT,
  SOFT_LABEL_FORMAT,
  softmaxRows,
} from '../../shared/index.js';
import { loadOnnxTeacher } from '../../server/teachers/index.js';
import { parseSimConfig, readSimConfigFile } from '../../sim/config.js';
import { runSimulation } from '../../sim/simulate.js';
import { grey, writePng } from '../support/imageFiles.js';

const MODEL = fileURLToPath(new URL('../fixtures/onnx/small-cnn.onnx', import.meta.url));

/** Largest |a − b| relative to max(1, |b|): float16 artifacts keep about 3 decimal digits. */
function maxRelativeGap(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let gap = 0;
  for (let i = 0; i < a.length; i++)
    gap = Math.max(gap, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return gap;
}

test('simulate with teacher.file: an ONNX teacher labels the proxy set and gives the hint term its features', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-sim-onnx-'));
  try {
    const yaml = join(dir, 'onnx.yaml');
    writeFileSync(
      yaml,
      [
        'name: onnx-test',
        `cacheDir: ${JSON.stringify(join(dir, 'cache'))}`,
        'data: { total: 600 }',
        'clients: 3',
        'rounds: 2',
        `teacher: { file: ${JSON.stringify(MODEL)}, provider: cpu }`,
        "student: 'mlp:32'",
        'strategy: fedkd',
        'training:',
        '  epochs: 1',
        '  batchSize: 16',
        '  distillation: [{ name: response, weight: 1 }, { name: hint, weight: 1 }]',
        'teacherFeatures: { layer: features }',
        'workers: 0',
      ].join('\n'),
    );
    const config = readSimConfigFile(yaml);
    const runDir = join(dir, 'run');
    const logs: string[] = [];
    const result = await runSimulation({ config, runDir, log: (line) => logs.push(line) });
    const run = result.runs[0]!;
    assert.equal(run.status, 'completed', run.error);
    assert.equal(run.rounds.length, 2);
    assert.equal(result.teacher.description, `ONNX model ${MODEL}`);
    assert.equal(result.teacher.parameters, 27_562);
    assert.ok(result.teacher.accuracy > 0.9, `teacher accuracy ${result.teacher.accuracy}`);
    assert.ok(
      logs.some((line) => /onnx runtime: cpu provider/.test(line)),
      logs.join('\n'),
    );
    for (const round of run.rounds) assert.equal(round.teacherAccuracy, result.teacher.accuracy);

    // What the coordinator served: the proxy inputs, their soft labels and teacher features.
    const codec = createCodec();
    const artifactsDir = join(runDir, 'coordinator', 'artifacts');
    const served = readdirSync(artifactsDir)
      .filter((name) => name.endsWith('.msgpack'))
      .map((name) => codec.decode(readFileSync(join(artifactsDir, name))) as { format?: string });
    const byFormat = (format: string) => {
      const found = served.filter((a) => a.format === format);
      assert.equal(found.length, 1, `one ${format} artifact`);
      return found[0]!;
    };
    const proxy = decodeProxyInputs(byFormat(PROXY_INPUTS_FORMAT));
    const softLabels = decodeSoftLabels(byFormat(SOFT_LABEL_FORMAT));
    const features = decodeFeatures(byFormat(FEATURE_SET_FORMAT));
    assert.equal(proxy.count, result.data.proxy);

    const teacher = await loadOnnxTeacher(MODEL, { provider: 'cpu' });
    try {
      const expected = softmaxRows(
        await teacher.logits(proxy.x, proxy.count),
        10,
        config.training.temperature,
      );
      const labelGap = maxRelativeGap(softLabels, expected);
      assert.ok(labelGap < 2e-3, `soft labels differ from the ONNX teacher's by ${labelGap}`);
      const own = await teacher.features!(proxy.x, proxy.count, 'features');
      assert.equal(features.layer, 'features');
      assert.equal(features.width, own.width);
      assert.equal(features.width, 64);
      const featureGap = maxRelativeGap(features.values, own.data);
      assert.ok(featureGap < 2e-3, `features differ from the ONNX teacher's by ${featureGap}`);
    } finally {
      teacher.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('simulate with teacher.file refuses, before any round, a teacher for other data and an unknown feature layer', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-sim-onnx-bad-'));
  try {
    const base = {
      name: 'onnx-refusals',
      cacheDir: join(dir, 'cache'),
      clients: 2,
      rounds: 1,
      student: 'mlp:8',
      workers: 0,
    };
    // 8×8 images: 64 values a sample, where the fixture takes 28×28.
    for (const name of ['a', 'b'])
      for (let n = 0; n < 60; n++)
        writePng(join(dir, 'small', name, `${n}.png`), 8, 8, () => grey(n));
    await assert.rejects(
      runSimulation({
        config: parseSimConfig({
          ...base,
          data: { source: join(dir, 'small'), total: 120 },
          teacher: { file: MODEL, provider: 'cpu' },
        }),
        writeOutputs: false,
      }),
      /ONNX model .*small-cnn\.onnx takes inputs of shape \[1, 28, 28\] \(784 values\), but .*small.* has 64 values a sample/,
    );
    await assert.rejects(
      runSimulation({
        config: parseSimConfig({
          ...base,
          data: { total: 200 },
          teacher: { file: MODEL, provider: 'cpu' },
          teacherFeatures: { layer: 'nope' },
        }),
        writeOutputs: false,
      }),
      /small-cnn\.onnx has no feature layer 'nope'; available: features, /,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
