import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  composeDistillation,
  composedLoss,
  createHintRegressor,
} from '../../../../shared/losses/index.js';
import type { DistillationTerm, ProxyStepInputs } from '../../../../shared/losses/index.js';
import { assertClose } from './helpers.js';
import {
  pktReference,
  rkdAngleReference,
  rkdDistanceReference,
  seededMatrix,
} from './relationReference.js';

await tf.setBackend('cpu');

const round = { alpha: 0.5, temperature: 1, proxyWeight: 1 };
const everything = { teacherProbs: true, teacherFeatures: true };

/** Runs composedLoss in a tidy and reads [loss, ...values] back, checking nothing leaks. */
function evaluateComposed(
  terms: DistillationTerm[],
  build: () => Parameters<typeof composedLoss>[1],
  defaults = round,
): { loss: number; values: Record<string, number> } {
  const composed = composeDistillation(terms, defaults, everything);
  const before = tf.memory().numTensors;
  const out = tf.tidy(() => {
    const { loss, values } = composedLoss(composed, build());
    return tf.concat([tf.reshape(loss, [1]), tf.stack(values)]);
  });
  const read = Array.from(out.dataSync());
  out.dispose();
  assert.equal(tf.memory().numTensors, before, 'composedLoss leaked tensors');
  const values: Record<string, number> = {};
  composed.valueNames.forEach((name, i) => (values[name] = read[i + 1] as number));
  return { loss: read[0] as number, values };
}

// A batch small enough to compute by hand (T = 1, α = 0.5):
// private logits [[0,0],[ln3,0]], labels [0,1]: softmax rows [½,½], [¾,¼];
//   CE = (ln2 + ln4)/2 = 1.5·ln2.
// proxy student logits [[0,0],[0,0]], teacher probs [[½,½],[1,0]]:
//   KL rows 0 and 1·(ln1 − ln½) = ln2 → KL = ln2/2; response = ½·1.5ln2 + ½·ln2/2 = ln2.
// hint, equal widths, no regressor: student [[1,0],[0,1]], teacher [[1,1],[0,0]]:
//   squared differences [[0,1],[0,1]] → mean 0.5.
// pkt: student unit rows are orthogonal → K = [[1,½],[½,1]] → P_s = [[⅔,⅓],[⅓,⅔]];
//   teacher row 1 is zero (cos 0) → K = [[1,½],[½,½]] → P_t = [[⅔,⅓],[½,½]];
//   loss = (½·ln(½/⅓) + ½·ln(½/⅔)) / 4 = ln(1.125)/8 (row 0 contributes 0; ε = 1e-7 ignored).
// self, snapshot logits [[ln3,0],[0,0]] against the private logits:
//   row 0: ¾·ln(¾/½) + ¼·ln(¼/½) = ¾·ln1.5 − ¼·ln2; row 1: ½·ln(½/¾) + ½·ln(½/¼) = ½·ln(4/3).
const LN2 = Math.log(2);
const CE = 1.5 * LN2;
const RESPONSE = LN2;
const HINT = 0.5;
const PKT = Math.log(1.125) / 8;
const SELF = (0.75 * Math.log(1.5) - 0.25 * LN2 + 0.5 * Math.log(4 / 3)) / 2;

function handBatch(): Parameters<typeof composedLoss>[1] {
  const proxy: ProxyStepInputs = {
    studentLogits: tf.zeros([2, 2]),
    studentFeatures: tf.tensor2d([
      [1, 0],
      [0, 1],
    ]),
    teacherProbs: tf.tensor2d([
      [0.5, 0.5],
      [1, 0],
    ]),
    teacherFeatures: tf.tensor2d([
      [1, 1],
      [0, 0],
    ]),
  };
  return {
    temperature: 1,
    studentLogits: tf.tensor2d([
      [0, 0],
      [Math.log(3), 0],
    ]),
    labels: tf.tensor1d([0, 1], 'int32'),
    proxy,
    snapshotLogits: tf.tensor2d([
      [Math.log(3), 0],
      [0, 0],
    ]),
  };
}

test('the composed loss is the weighted sum of hand-computed terms', () => {
  const terms: DistillationTerm[] = [
    { name: 'response', weight: 2 },
    { name: 'hint', weight: 0.5 },
    { name: 'pkt', weight: 3 },
    { name: 'self', weight: 0.25 },
  ];
  const { loss, values } = evaluateComposed(terms, handBatch);
  assertClose(values.response!, RESPONSE, 1e-5, 'response');
  assertClose(values.hint!, HINT, 1e-5, 'hint');
  assertClose(values.pkt!, PKT, 1e-4, 'pkt');
  assertClose(values.self!, SELF, 1e-5, 'self');
  assertClose(values.ce!, CE, 1e-5, 'ce');
  assertClose(loss, 2 * RESPONSE + 0.5 * HINT + 3 * PKT + 0.25 * SELF, 1e-5, 'loss');
});

test('without a response term the CE on private data enters with weight 1; options override the round', () => {
  const noResponse = evaluateComposed(
    [
      { name: 'hint', weight: 0.5 },
      { name: 'self', weight: 2 },
    ],
    handBatch,
  );
  assertClose(noResponse.loss, CE + 0.5 * HINT + 2 * SELF, 1e-5, 'CE + terms');

  // α = 1 from the term (not the round's 0.5): the response term is CE alone.
  const hardOnly = evaluateComposed([{ name: 'response', weight: 1, alpha: 1 }], handBatch);
  assertClose(hardOnly.loss, CE, 1e-5, 'α = 1');
  // proxyWeight 3 triples the soft part: ½·CE + 3·½·ln2/2.
  const proxyHeavy = evaluateComposed([{ name: 'response', weight: 1 }], handBatch, {
    ...round,
    proxyWeight: 3,
  });
  assertClose(proxyHeavy.loss, 0.5 * CE + 3 * 0.5 * (LN2 / 2), 1e-5, 'proxyWeight');
  // self at its own temperature 2 on logits that are all 0 except ln3: T²·KL at T = 2.
  const hot = evaluateComposed([{ name: 'self', weight: 1, temperature: 2 }], handBatch);
  const soft = (z: number[]): number[] => {
    const e = z.map((v) => Math.exp(v / 2));
    const s = e[0]! + e[1]!;
    return e.map((v) => v / s);
  };
  const kl = (p: number[], q: number[]): number =>
    p.reduce((acc, v, i) => acc + v * Math.log(v / q[i]!), 0);
  const selfAt2 =
    (4 * (kl(soft([Math.log(3), 0]), soft([0, 0])) + kl(soft([0, 0]), soft([Math.log(3), 0])))) / 2;
  assertClose(hot.values.self!, selfAt2, 1e-5, 'self at T = 2');
});

test('the composed loss matches float64 references of every term on a random batch, through a regressor', () => {
  const P = 5;
  const s = seededMatrix(P, 3, 11);
  const t = seededMatrix(P, 4, 12);
  const kernel = seededMatrix(3, 4, 13);
  const bias = [0.1, -0.2, 0.3, 0];
  const regressor = createHintRegressor(3, 4, 1);
  regressor.kernel.assign(tf.tensor2d(kernel));
  regressor.bias.assign(tf.tensor1d(bias));
  const terms: DistillationTerm[] = [
    { name: 'hint', weight: 1.5 },
    { name: 'rkd-distance', weight: 0.5 },
    { name: 'rkd-angle', weight: 2 },
    { name: 'pkt', weight: 0.7 },
  ];
  const { loss, values } = evaluateComposed(terms, () => ({
    temperature: 1,
    studentLogits: tf.tensor2d([[0, 0]]),
    labels: tf.tensor1d([0], 'int32'),
    regressor,
    proxy: {
      studentLogits: tf.zeros([P, 2]),
      studentFeatures: tf.tensor2d(s),
      teacherProbs: tf.fill([P, 2], 0.5),
      teacherFeatures: tf.tensor2d(t),
    },
  }));
  let hint = 0;
  s.forEach((row, i) =>
    bias.forEach((b, j) => {
      const mapped = row.reduce((acc, v, k) => acc + v * kernel[k]![j]!, b);
      hint += (mapped - t[i]![j]!) ** 2;
    }),
  );
  hint /= P * 4;
  const expected = {
    hint,
    'rkd-distance': rkdDistanceReference(s, t),
    'rkd-angle': rkdAngleReference(s, t),
    pkt: pktReference(s, t),
  };
  for (const [name, value] of Object.entries(expected)) {
    assertClose(values[name]!, value, 1e-4, name);
  }
  assertClose(
    loss,
    Math.log(2) +
      1.5 * hint +
      0.5 * expected['rkd-distance'] +
      2 * expected['rkd-angle'] +
      0.7 * expected.pkt,
    1e-4,
    'loss',
  );
  regressor.dispose();
});
