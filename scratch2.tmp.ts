import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { buildModel, cnnSpec, createFastForward } from './shared/models/index.js';
import { trainLocal } from './shared/training/index.js';
import { syntheticData, syntheticProxy } from './test/unit/shared/training/synthetic.js';
await tf.setBackend('wasm');
const cnn = cnnSpec({ inputShape: [6, 6, 1], filters: [4], hidden: [8], numClasses: 3 });
const cnnData = syntheticData(32, 21, 36);
const cnnProxy = syntheticProxy(48, 22, 2, 36);
const tspec = cnnSpec({ inputShape: [6, 6, 1], filters: [5], hidden: [8], numClasses: 3 });
const teacher = buildModel(tspec, 99);
const tf_ = createFastForward(teacher, tspec, { featureLayer: 1, featurePooling: 'average' });
const ft = tf.tidy(() => { const f = tf_(tf.tensor(cnnProxy.x, [48, 6, 6, 1]), false).layerFeatures!; const m = tf.moments(f, 0); return tf.div(tf.sub(f, m.mean), tf.sqrt(tf.add(m.variance, 1e-6))); });
const features = { values: ft.dataSync() as Float32Array, width: 5 };
for (const lr of [0.02, 0.05]) for (const epochs of [15, 30]) for (const pooling of ['average','flatten'] as const) {
  const model = buildModel(cnn, 12);
  const r = await trainLocal({ model, spec: cnn, data: cnnData, proxy: cnnProxy, teacherFeatures: features,
    config: { epochs, batchSize: 16, proxyBatchSize: 16, learningRate: lr, temperature: 2, alpha: 0.5, distillation: [{ name: 'hint', weight: 1, studentLayer: 1, pooling }] } });
  console.log(lr, epochs, pooling, r.terms.firstEpoch.hint, r.terms.lastEpoch.hint, r.millis);
}
