import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../../../shared/backend/index.js';
import type { BackendCandidate } from '../../../../shared/backend/index.js';

const cpu: BackendCandidate = { name: 'cpu', load: async () => {} };
const broken: BackendCandidate = {
  name: 'native',
  label: 'fake-native-package',
  load: async () => {
    throw new Error("Cannot find module 'fake-native-package'\nRequire stack:\n- /somewhere");
  },
};

test('a candidate whose load throws is skipped and recorded with its error', async () => {
  const lines: string[] = [];
  const choice = await selectBackend([broken, cpu], { log: (m) => lines.push(m) });
  assert.equal(choice.name, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  assert.deepEqual(choice.tried, [
    {
      name: 'native',
      label: 'fake-native-package',
      error: "Cannot find module 'fake-native-package'",
    },
    { name: 'cpu', label: 'cpu' },
  ]);
  assert.deepEqual(lines, [
    "tfjs backend: cpu (tried fake-native-package: Cannot find module 'fake-native-package')",
  ]);
});

test('an unregistered backend name and a failing initialiser are skipped too', async () => {
  const unregistered: BackendCandidate = { name: 'no-such-backend', load: async () => {} };
  tf.registerBackend('fails-to-init', () => {
    throw new Error('no adapter');
  });
  const failing: BackendCandidate = { name: 'fails-to-init', load: async () => {} };
  const choice = await selectBackend([unregistered, failing, cpu]);
  assert.equal(choice.name, 'cpu');
  assert.deepEqual(
    choice.tried.map((t) => [t.name, t.error !== undefined]),
    [
      ['no-such-backend', true],
      ['fails-to-init', true],
      ['cpu', false],
    ],
  );
  assert.match(choice.tried[1]?.error ?? '', /failed to initialise/);
  tf.removeBackend('fails-to-init');
});

test('force picks only that candidate and never falls back', async () => {
  const choice = await selectBackend([broken, cpu], { force: 'cpu' });
  assert.deepEqual(choice, { name: 'cpu', tried: [{ name: 'cpu', label: 'cpu' }] });
  await assert.rejects(
    selectBackend([broken, cpu], { force: 'native' }),
    /'native' could not start.*Cannot find module/,
  );
  await assert.rejects(
    selectBackend([broken, cpu], { force: 'webgpu' }),
    /unknown tfjs backend 'webgpu'; choose one of: native, fake-native-package, cpu/,
  );
  await assert.rejects(selectBackend([broken]), /no tfjs backend could start/);
});
