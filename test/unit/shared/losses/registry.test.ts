import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_DISTILLATION,
  DISTILLATION_TERMS,
  DISTILLATION_TERM_NAMES,
  composeDistillation,
  distillationNeeds,
  distillationTerm,
  parseDistillation,
  termFamily,
} from '../../../../shared/losses/index.js';
import type { DistillationTerm } from '../../../../shared/losses/index.js';
import { roundConfigSchema, trainMetricsSchema } from '../../../../shared/protocol/schemas.js';
import { throwsInput } from './helpers.js';

const round = { alpha: 0.5, temperature: 2, proxyWeight: 1 };

test('the registry names every term once, with its family and needs', () => {
  assert.deepEqual(DISTILLATION_TERM_NAMES, [
    'response',
    'hint',
    'rkd-distance',
    'rkd-angle',
    'pkt',
    'self',
  ]);
  for (const name of DISTILLATION_TERM_NAMES) {
    assert.equal(DISTILLATION_TERMS[name].name, name);
    assert.equal(distillationTerm(name), DISTILLATION_TERMS[name]);
  }
  assert.deepEqual(DISTILLATION_TERM_NAMES.map(termFamily), [
    'response',
    'feature',
    'relation',
    'relation',
    'relation',
    'self',
  ]);
  assert.deepEqual(
    [
      ...distillationNeeds([
        { name: 'pkt', weight: 1 },
        { name: 'self', weight: 1 },
      ]),
    ].sort(),
    ['snapshot', 'teacherFeatures'],
  );
  assert.deepEqual([...distillationNeeds(DEFAULT_DISTILLATION)], []);
  throwsInput(() => distillationTerm('toString'), /unknown distillation term "toString"/);
});

test('parseDistillation accepts every term with its options and refuses bad ones, naming the field', () => {
  const all = [
    { name: 'response', weight: 1, alpha: 0.3 },
    { name: 'hint', weight: 0.5, regressor: 'always', studentLayer: 2, pooling: 'average' },
    { name: 'rkd-distance', weight: 1 },
    { name: 'rkd-angle', weight: 2 },
    { name: 'pkt', weight: 0.1 },
    { name: 'self', weight: 1, temperature: 4, ema: 0.9 },
  ];
  assert.deepEqual(parseDistillation(all), all);

  throwsInput(
    () =>
      parseDistillation([
        { name: 'response', weight: 1 },
        { name: 'fitnet', weight: 1 },
      ]),
    /distillation\[1\]\.name: unknown distillation term "fitnet"; known: response, hint, rkd-distance, rkd-angle, pkt, self/,
  );
  throwsInput(
    () => parseDistillation([{ name: 'hint', weight: 1, regressor: 'mlp' }]),
    /distillation\[0\]\.regressor/,
  );
  throwsInput(() => parseDistillation([{ name: 'pkt', weight: -1 }]), /distillation\[0\]\.weight/);
  throwsInput(() => parseDistillation([{ name: 'pkt' }]), /distillation\[0\]\.weight/);
  throwsInput(
    () => parseDistillation([{ name: 'self', weight: 1, ema: 1 }]),
    /distillation\[0\]\.ema/,
  );
  throwsInput(
    () => parseDistillation([{ name: 'pkt', weight: 1, alpha: 0.5 }]),
    /distillation\[0\]: Unrecognized key: "alpha"/,
  );
  throwsInput(
    () =>
      parseDistillation([
        { name: 'pkt', weight: 1 },
        { name: 'pkt', weight: 2 },
      ]),
    /distillation\[1\]\.name: term "pkt" is listed twice/,
  );
  throwsInput(() => parseDistillation([], 'serve.distillation'), /serve\.distillation: /);
});

test('composeDistillation refuses terms whose inputs are missing, naming the term', () => {
  const none = { teacherProbs: false, teacherFeatures: false };
  const proxyOnly = { teacherProbs: true, teacherFeatures: false };
  throwsInput(
    () => composeDistillation([{ name: 'hint', weight: 1 }], round, proxyOnly),
    /distillation\[0\] \(hint\) needs the teacher's features on the proxy set \(teacherFeatures\)/,
  );
  throwsInput(
    () =>
      composeDistillation(
        [
          { name: 'self', weight: 1 },
          { name: 'rkd-angle', weight: 1 },
        ],
        round,
        none,
      ),
    /distillation\[1\] \(rkd-angle\) needs/,
  );
  throwsInput(
    () =>
      composeDistillation(
        [{ name: 'nope', weight: 1 } as unknown as DistillationTerm],
        round,
        none,
      ),
    /distillation\[0\]\.name: unknown distillation term "nope"/,
  );
  throwsInput(
    () =>
      composeDistillation(
        [{ name: 'response', weight: 1, alpha: 2 } as DistillationTerm],
        round,
        none,
      ),
    /distillation\[0\]\.alpha/,
  );
  // Self-distillation and the response term need no teacher: they run under fedavg.
  const fedavg = composeDistillation(
    [
      { name: 'response', weight: 1 },
      { name: 'self', weight: 0.5 },
    ],
    round,
    none,
  );
  assert.equal(fedavg.usesProxy, false);
  assert.deepEqual(fedavg.valueNames, ['response', 'self', 'ce']);
  // The response term uses the proxy only when α < 1.
  assert.equal(composeDistillation(DEFAULT_DISTILLATION, round, proxyOnly).usesProxy, true);
  assert.equal(
    composeDistillation(DEFAULT_DISTILLATION, { ...round, alpha: 1 }, proxyOnly).usesProxy,
    false,
  );
});

test('the round config carries the distillation terms and refuses an unknown one', () => {
  const config = {
    epochs: 1,
    batchSize: 8,
    learningRate: 0.01,
    temperature: 3,
    alpha: 0.5,
    optimizer: 'adam',
    updatePrecision: 'float32',
  };
  assert.equal(roundConfigSchema.parse(config).distillation, undefined);
  const terms = [
    { name: 'response', weight: 1 },
    { name: 'hint', weight: 0.2 },
  ];
  assert.deepEqual(roundConfigSchema.parse({ ...config, distillation: terms }).distillation, terms);
  const bad = roundConfigSchema.safeParse({ ...config, distillation: [{ name: 'kd', weight: 1 }] });
  assert.equal(bad.success, false);
  assert.match(bad.error?.issues[0]?.message ?? '', /unknown distillation term "kd"/);
  assert.deepEqual(bad.error?.issues[0]?.path, ['distillation', 0, 'name']);
});

test('update metrics may carry the term values, bounded', () => {
  const metrics = { loss: 1, accuracy: 0.5, trainMillis: 10, steps: 3 };
  const terms = { response: 0.4, hint: 0.12, ce: 0.9 };
  assert.deepEqual(trainMetricsSchema.parse({ ...metrics, terms }).terms, terms);
  assert.equal(
    trainMetricsSchema.safeParse({ ...metrics, terms: { hint: Number.NaN } }).success,
    false,
  );
  const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`t${i}`, 1]));
  assert.equal(trainMetricsSchema.safeParse({ ...metrics, terms: many }).success, false);
});
