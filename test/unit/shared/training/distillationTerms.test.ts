import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { DistillationInputError } from '../../../../shared/errors.js';
import type { DistillationTerm } from '../../../../shared/losses/index.js';
import {
  buildModel,
  cnnSpec,
  inferShapes,
  createFastForward,
  getFlatWeights,
  setFlatWeights,
} from '../../../../shared/models/index.js';
import type { ModelSpec } from '../../../../shared/models/index.js';
import {
  LocalDistillationState,
  MAX_REGRESSOR_PARAMETERS,
  trainLocal,
} from '../../../../shared/training/index.js';
import type { LocalTrainOptions, TrainConfig } from '../../../../shared/training/index.js';
import { syntheticData, syntheticProxy, syntheticTeacherFeatures } from './synthetic.js';

await tf.setBackend('wasm');

const spec: ModelSpec = {
  inputShape: [8],
  layers: [{ type: 'dense', units: 6, activation: 'tanh' }],
  numClasses: 3,
};
const data = syntheticData(48, 1);
const proxy = syntheticProxy(64, 2);
const teacherFeatures = syntheticTeacherFeatures(proxy, 5);
const base: TrainConfig = {
  epochs: 20,
  batchSize: 16,
  proxyBatchSize: 16,
  learningRate: 0.02,
  temperature: 2,
  alpha: 0.5,
};

function run(
  distillation: DistillationTerm[],
  over: Partial<LocalTrainOptions> = {},
): ReturnType<typeof trainLocal> {
  const model = over.model ?? buildModel(spec, 3);
  return trainLocal({
    model,
    spec,
    data,
    proxy,
    teacherFeatures,
    config: { ...base, distillation },
    seed: 5,
    ...over,
  });
}

/** Student penultimate features on the whole proxy set (inference). */
function proxyFeatures(model: tf.LayersModel, s: ModelSpec, x: Float32Array): number[][] {
  const forward = createFastForward(model, s);
  const f = tf.tidy(() => forward(tf.tensor(x, [proxy.count, ...s.inputShape]), false).features);
  const out = f.arraySync();
  f.dispose();
  return out;
}

/** Pairwise distances divided by their mean over i ≠ j (RKD's ψ). */
function normalisedDistances(rows: number[][]): number[][] {
  const d = rows.map((a) => rows.map((b) => Math.hypot(...a.map((v, k) => v - b[k]!))));
  const n = rows.length;
  const mean = d.flat().reduce((x, y) => x + y, 0) / (n * (n - 1));
  return d.map((row) => row.map((v) => v / mean));
}

function meanAbsDifference(a: number[][], b: number[][]): number {
  let sum = 0;
  a.forEach((row, i) => row.forEach((v, j) => (sum += Math.abs(v - b[i]![j]!))));
  return sum / (a.length * a.length);
}

/** Mean over columns of each column's variance: the hint loss of the best constant prediction. */
function columnVariance(values: Float32Array, width: number): number {
  const n = values.length / width;
  let total = 0;
  for (let j = 0; j < width; j++) {
    let mean = 0;
    for (let r = 0; r < n; r++) mean += values[r * width + j]!;
    mean /= n;
    for (let r = 0; r < n; r++) total += (values[r * width + j]! - mean) ** 2;
  }
  return total / values.length;
}

const teacherRows = Array.from({ length: proxy.count }, (_, r) =>
  Array.from(teacherFeatures.values.subarray(r * 5, (r + 1) * 5)),
);

test('feature: the hint loss falls; the regressor lives in the client state across rounds, outside the averaged weights', async () => {
  const model = buildModel(spec, 3);
  const weightsLength = getFlatWeights(model).length;
  const state = new LocalDistillationState();
  const before = tf.memory().numTensors;
  const terms: DistillationTerm[] = [
    { name: 'response', weight: 1 },
    { name: 'hint', weight: 1 },
  ];
  const first = await run(terms, { model, state });
  const { firstEpoch, lastEpoch } = first.terms;
  assert.deepEqual(Object.keys(lastEpoch), ['response', 'hint', 'ce']);
  assert.ok(
    lastEpoch.hint! < 0.5 * firstEpoch.hint!,
    `hint ${firstEpoch.hint} → ${lastEpoch.hint}`,
  );
  // Below the teacher features' variance (what the regressor's bias alone could reach), so the
  // student's own features carry the teacher's.
  const variance = columnVariance(teacherFeatures.values, 5);
  assert.ok(lastEpoch.hint! < 0.5 * variance, `hint ${lastEpoch.hint} vs variance ${variance}`);
  assert.equal(
    tf.memory().numTensors,
    before + 2,
    'only the regressor (kernel, bias) outlives the call',
  );
  const regressor = state.hintRegressor;
  assert.deepEqual(regressor?.kernel.shape, [6, 5]); // student width 6 → teacher width 5
  assert.equal(getFlatWeights(model).length, weightsLength);
  assert.equal(
    weightsLength,
    inferShapes(spec).parameters,
    'the regressor is not in the model weights',
  );

  // Round 2 starts from the learned regressor: its first epoch is near round 1's last, while a
  // fresh state starts from a new regressor and a much larger hint loss.
  const kernelAfterFirst = Float32Array.from(regressor!.kernel.dataSync());
  const second = await run(terms, { model, state, seed: 6 });
  assert.equal(state.hintRegressor, regressor);
  assert.notDeepEqual(regressor!.kernel.dataSync(), kernelAfterFirst, 'the regressor trains');
  const restart = buildModel(spec, 4);
  setFlatWeights(restart, getFlatWeights(model));
  const fresh = await run(terms, { model: restart, seed: 6 });
  assert.ok(
    second.terms.firstEpoch.hint! < 0.5 * fresh.terms.firstEpoch.hint!,
    `kept regressor ${second.terms.firstEpoch.hint} vs fresh ${fresh.terms.firstEpoch.hint}`,
  );
  restart.dispose();
  state.dispose();
  assert.equal(tf.memory().numTensors, before, 'nothing left after state.dispose()');
  model.dispose();
});

test("relation: the student's pairwise distances approach the teacher's (RKD distance); RKD angle and PKT fall", async () => {
  const model = buildModel(spec, 3);
  const gapBefore = meanAbsDifference(
    normalisedDistances(proxyFeatures(model, spec, proxy.x)),
    normalisedDistances(teacherRows),
  );
  const before = tf.memory().numTensors;
  const r = await run([{ name: 'rkd-distance', weight: 5 }], { model });
  assert.equal(tf.memory().numTensors, before);
  const gapAfter = meanAbsDifference(
    normalisedDistances(proxyFeatures(model, spec, proxy.x)),
    normalisedDistances(teacherRows),
  );
  assert.ok(gapAfter < 0.6 * gapBefore, `|ψ_s − ψ_t| ${gapBefore} → ${gapAfter}`);
  assert.ok(r.terms.lastEpoch['rkd-distance']! < r.terms.firstEpoch['rkd-distance']!);
  model.dispose();

  for (const name of ['rkd-angle', 'pkt'] as const) {
    const student = buildModel(spec, 3);
    const count = tf.memory().numTensors;
    // Response at weight 0 drops the CE: the relation term alone moves the student.
    const out = await run(
      [
        { name: 'response', weight: 0 },
        { name, weight: 1 },
      ],
      { model: student },
    );
    assert.equal(tf.memory().numTensors, count, `${name} leaked`);
    const { firstEpoch, lastEpoch } = out.terms;
    assert.ok(
      lastEpoch[name]! < 0.8 * firstEpoch[name]!,
      `${name} ${firstEpoch[name]} → ${lastEpoch[name]}`,
    );
    student.dispose();
  }
});

/** Batch mean of KL(softmax(a/T) ‖ softmax(b/T)) over the private data, for two models. */
function klOnData(teacher: Float32Array, model: tf.LayersModel, T: number): number {
  const forward = createFastForward(model, spec);
  const student = tf.tidy(() => forward(tf.tensor(data.x, [data.count, 8]), false).logits);
  const s = student.arraySync();
  student.dispose();
  const probe = buildModel(spec, 0);
  setFlatWeights(probe, teacher);
  const tForward = createFastForward(probe, spec);
  const tLogits = tf.tidy(() => tForward(tf.tensor(data.x, [data.count, 8]), false).logits);
  const t = tLogits.arraySync();
  tLogits.dispose();
  probe.dispose();
  const soft = (z: number[]): number[] => {
    const e = z.map((v) => Math.exp(v / T));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / sum);
  };
  let total = 0;
  t.forEach((row, i) => {
    const p = soft(row);
    const q = soft(s[i]!);
    total += p.reduce((acc, v, c) => acc + v * Math.log(v / q[c]!), 0);
  });
  return total / t.length;
}

test('self: the KL to the round-start snapshot stays small with the term; with an EMA teacher it falls', async () => {
  // Snapshot teacher: the same start trained with and without the self term (no teacher at all,
  // as under fedavg: no proxy is given).
  const start = getFlatWeights(buildModel(spec, 8));
  const results: number[] = [];
  for (const terms of [
    [{ name: 'response', weight: 1 }],
    [{ name: 'self', weight: 4 }],
  ] as DistillationTerm[][]) {
    const model = buildModel(spec, 8);
    const count = tf.memory().numTensors;
    await trainLocal({ model, spec, data, config: { ...base, alpha: 1, distillation: terms } });
    assert.equal(tf.memory().numTensors, count);
    results.push(klOnData(start, model, 2));
    model.dispose();
  }
  const [ceOnly, withSelf] = results as [number, number];
  assert.ok(withSelf < 0.5 * ceOnly, `KL to snapshot: CE only ${ceOnly}, with self ${withSelf}`);

  // EMA teacher: round 1 starts the EMA at model A; round 2 receives B, so the teacher is
  // ½A + ½B ≠ B and the term starts above 0 and falls.
  // (Response at weight 0 drops the CE, so the self term alone moves the student.)
  const state = new LocalDistillationState();
  const terms: DistillationTerm[] = [
    { name: 'response', weight: 0 },
    { name: 'self', weight: 1, ema: 0.5 },
  ];
  const a = buildModel(spec, 10);
  const wa = getFlatWeights(a);
  await trainLocal({
    model: a,
    spec,
    data,
    config: { ...base, epochs: 1, distillation: terms },
    state,
  });
  const b = buildModel(spec, 11);
  await trainLocal({ model: b, spec, data, config: { ...base, alpha: 1 } }); // B has learned
  const wb = getFlatWeights(b);
  const round2 = await trainLocal({
    model: b,
    spec,
    data,
    config: { ...base, distillation: terms },
    state,
  });
  const ema = state.emaWeights!;
  ema.forEach((v, i) => assert.ok(Math.abs(v - (wa[i]! + wb[i]!) / 2) < 1e-6, `ema[${i}]`));
  const { firstEpoch, lastEpoch } = round2.terms;
  assert.ok(firstEpoch.self! > 0.01, `first-epoch KL ${firstEpoch.self}`);
  assert.ok(
    lastEpoch.self! < 0.5 * firstEpoch.self!,
    `self ${firstEpoch.self} → ${lastEpoch.self}`,
  );
  state.dispose();
  a.dispose();
  b.dispose();
});

test('CNN: hints on convolutional features (average-pooled or flattened) fall, through a regressor', async () => {
  const cnn = cnnSpec({ inputShape: [6, 6, 1], filters: [4], hidden: [8], numClasses: 3 });
  const cnnData = syntheticData(32, 21, 36);
  const cnnProxy = syntheticProxy(48, 22, 2, 36);
  // Teacher features: another CNN's conv block (5 filters), average-pooled and standardised per
  // column, so the best constant prediction scores 1.
  const teacherSpec = cnnSpec({ inputShape: [6, 6, 1], filters: [5], hidden: [8], numClasses: 3 });
  const teacher = buildModel(teacherSpec, 99);
  const teacherForward = createFastForward(teacher, teacherSpec, {
    featureLayer: 1,
    featurePooling: 'average',
  });
  const standardised = tf.tidy(() => {
    const x = tf.tensor(cnnProxy.x, [cnnProxy.count, 6, 6, 1]);
    const f = teacherForward(x, false).layerFeatures!;
    const { mean, variance } = tf.moments(f, 0);
    return tf.div(tf.sub(f, mean), tf.sqrt(tf.add(variance, 1e-6)));
  });
  const features = { values: standardised.dataSync() as Float32Array, width: 5 };
  standardised.dispose();
  teacher.dispose();
  // Layers: conv 0 (4×4×4), max pool 1 (2×2×4), flatten 2, dense 3, logits 4: layer 1 is the
  // conv block, 4 wide averaged and 16 flattened.
  for (const [pooling, width] of [
    ['average', 4],
    ['flatten', 16],
  ] as const) {
    const model = buildModel(cnn, 12);
    const state = new LocalDistillationState();
    const count = tf.memory().numTensors;
    const r = await trainLocal({
      model,
      spec: cnn,
      data: cnnData,
      proxy: cnnProxy,
      teacherFeatures: features,
      state,
      config: {
        ...base,
        epochs: 30,
        learningRate: 0.05,
        distillation: [{ name: 'hint', weight: 1, studentLayer: 1, pooling }],
      },
    });
    assert.equal(tf.memory().numTensors, count + 2);
    assert.deepEqual(state.hintRegressor?.kernel.shape, [width, 5]);
    const { firstEpoch, lastEpoch } = r.terms;
    assert.ok(
      lastEpoch.hint! < 0.7 * firstEpoch.hint! && lastEpoch.hint! < 0.7,
      `${pooling}: hint ${firstEpoch.hint} → ${lastEpoch.hint}`,
    );
    state.dispose();
    model.dispose();
  }
});

test('bad distillation settings fail before training, naming the field', async () => {
  const model = buildModel(spec, 3);
  const weights = getFlatWeights(model);
  const refuses = async (over: Partial<LocalTrainOptions>, pattern: RegExp): Promise<void> => {
    const count = tf.memory().numTensors;
    await assert.rejects(
      trainLocal({ model, spec, data, proxy, teacherFeatures, config: base, ...over }),
      (error: unknown) => {
        assert.ok(error instanceof DistillationInputError, String(error));
        assert.match(error.message, pattern);
        return true;
      },
    );
    assert.equal(tf.memory().numTensors, count);
  };
  const withTerms = (...distillation: DistillationTerm[]) => ({
    config: { ...base, distillation },
  });
  await refuses(
    withTerms({ name: 'fitnet', weight: 1 } as unknown as DistillationTerm),
    /distillation\[0\]\.name: unknown distillation term "fitnet"/,
  );
  await refuses(
    {
      ...withTerms({ name: 'response', weight: 1 }, { name: 'hint', weight: 1 }),
      teacherFeatures: undefined,
    },
    /distillation\[1\] \(hint\) needs the teacher's features/,
  );
  await refuses(
    { ...withTerms({ name: 'pkt', weight: 1 }), proxy: undefined, teacherFeatures: undefined },
    /distillation\[0\] \(pkt\) needs/,
  );
  await refuses(
    withTerms({ name: 'hint', weight: 1, regressor: 'none' }),
    /distillation\[0\]\.regressor is 'none' but the student's hint features have width 6 and teacherFeatures\.width is 5/,
  );
  const wide = 1 + Math.floor(MAX_REGRESSOR_PARAMETERS / 6);
  await refuses(
    {
      ...withTerms({ name: 'hint', weight: 1 }),
      teacherFeatures: { values: new Float32Array(proxy.count * wide), width: wide },
    },
    /teacherFeatures\.width: a hint regressor from student width 6 to teacher width \d+ has \d+ weights, over the limit/,
  );
  await refuses(
    {
      ...withTerms({ name: 'hint', weight: 1 }),
      teacherFeatures: { values: new Float32Array(7), width: 5 },
    },
    /teacherFeatures\.values has 7 values, expected proxy count 64 × width 5/,
  );
  await refuses(
    withTerms({ name: 'hint', weight: 1, studentLayer: 1 }),
    /distillation\[0\]\.studentLayer: featureLayer 1 is not a hidden layer/,
  );
  // A state whose regressor was learned for other widths is refused, not silently replaced.
  const state = new LocalDistillationState();
  await trainLocal({
    model,
    spec,
    data,
    proxy,
    teacherFeatures,
    state,
    config: { ...base, epochs: 1, distillation: [{ name: 'hint', weight: 1 }] },
  });
  await refuses(
    {
      ...withTerms({ name: 'hint', weight: 1 }),
      state,
      teacherFeatures: syntheticTeacherFeatures(proxy, 4),
    },
    /teacherFeatures\.width: the client's hint regressor maps width 6 to 5, but this round has student width 6 and teacher width 4/,
  );
  state.dispose();
  setFlatWeights(model, weights);
  model.dispose();
});

test('an aborted run with a call-local regressor and a self snapshot leaves no tensors', async () => {
  const model = buildModel(spec, 3);
  const before = tf.memory().numTensors;
  const controller = new AbortController();
  await assert.rejects(
    trainLocal({
      model,
      spec,
      data,
      proxy,
      teacherFeatures,
      config: {
        ...base,
        distillation: [
          { name: 'hint', weight: 1 },
          { name: 'self', weight: 1 },
        ],
      },
      signal: controller.signal,
      onProgress: (p) => {
        if (p.step === 2) controller.abort(new Error('deadline'));
      },
    }),
    /deadline/,
  );
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});
