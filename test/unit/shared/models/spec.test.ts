import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ModelSpecError } from '../../../../shared/errors.js';
import {
  cnnSpec,
  inferShapes,
  mlpSpec,
  modelSpecSchema,
  parseModelSpec,
} from '../../../../shared/models/index.js';

test('mlpSpec builds ReLU hidden layers and counts parameters', () => {
  const spec = mlpSpec(784, [800, 800], 10);
  assert.equal(spec.name, 'mlp-784-800-800-10');
  assert.deepEqual(spec.layers, [
    { type: 'dense', units: 800, activation: 'relu' },
    { type: 'dense', units: 800, activation: 'relu' },
  ]);
  // 784·800+800 + 800·800+800 + 800·10+10 = 628000 + 640800 + 8010
  assert.equal(inferShapes(spec).parameters, 1_276_810);
  assert.equal(inferShapes(spec).featureSize, 800);
});

test('cnnSpec default shapes: 28→26→13→11→5, flatten 400', () => {
  const shapes = inferShapes(cnnSpec());
  assert.deepEqual(shapes.layerOutputs, [
    [26, 26, 8],
    [13, 13, 8],
    [11, 11, 16],
    [5, 5, 16],
    [400],
    [64],
  ]);
  // conv 3·3·1·8+8=80, conv 3·3·8·16+16=1168, dense 400·64+64=25664, logits 64·10+10=650
  assert.equal(shapes.parameters, 80 + 1168 + 25664 + 650);
  const same = inferShapes(cnnSpec({ padding: 'same', filters: [4], hidden: [] }));
  assert.deepEqual(same.layerOutputs, [[28, 28, 4], [14, 14, 4], [784]]);
});

test('modelSpecSchema accepts the built-in specs and rejects bad ones', () => {
  assert.ok(modelSpecSchema.safeParse(cnnSpec({ dropout: 0.25 })).success);
  assert.ok(modelSpecSchema.safeParse(mlpSpec(4, [3], 2)).success);
  const bad: unknown[] = [
    { inputShape: [784], layers: [{ type: 'conv2d', filters: 2, kernelSize: 3 }], numClasses: 10 },
    {
      inputShape: [4, 4, 1],
      layers: [{ type: 'conv2d', filters: 2, kernelSize: 5 }],
      numClasses: 2,
    },
    { inputShape: [4], layers: [{ type: 'dense', units: 0 }], numClasses: 2 },
    { inputShape: [4], layers: [{ type: 'dense', units: 3, extra: 1 }], numClasses: 2 },
    { inputShape: [4], layers: [{ type: 'dropout', rate: 1 }], numClasses: 2 },
    { inputShape: [4], layers: [{ type: 'lstm' }], numClasses: 2 },
    { inputShape: [4, 4], layers: [], numClasses: 2 },
    { inputShape: [4], layers: [], numClasses: 1 },
    { inputShape: [60000], layers: [{ type: 'dense', units: 60000 }], numClasses: 2 },
  ];
  for (const value of bad) {
    assert.equal(modelSpecSchema.safeParse(value).success, false, JSON.stringify(value));
    assert.throws(() => parseModelSpec(value), ModelSpecError);
  }
});

test('parseModelSpec round-trips a spec through JSON', () => {
  const spec = cnnSpec({ filters: [4], hidden: [16], dropout: 0.5, numClasses: 3 });
  assert.deepEqual(parseModelSpec(JSON.parse(JSON.stringify(spec))), spec);
});
