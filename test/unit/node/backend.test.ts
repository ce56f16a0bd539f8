import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { nodeBackendCandidates, selectNodeBackend } from '../../../node/backend.js';

test('Node candidates: tfjs-node-gpu, tfjs-node, wasm, cpu', () => {
  assert.deepEqual(
    nodeBackendCandidates().map((c) => c.label ?? c.name),
    ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', 'wasm', 'cpu'],
  );
});

test('default order falls back to wasm where tfjs-node is not installed', async (t) => {
  const lines: [string, string][] = [];
  const choice = await selectNodeBackend({ log: (m, level = 'info') => lines.push([level, m]) });
  if (choice.tried.length === 1) {
    // A machine with native TensorFlow installed: nothing to fall back from.
    assert.equal(choice.name, 'tensorflow');
    t.diagnostic('tfjs-node is installed here; the fallback path was not exercised');
    return;
  }
  assert.equal(choice.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.deepEqual(
    choice.tried.map((a) => [a.label, a.error === undefined]),
    [
      ['@tensorflow/tfjs-node-gpu', false],
      ['@tensorflow/tfjs-node', false],
      ['wasm', true],
    ],
  );
  assert.match(choice.tried[0]?.error ?? '', /Cannot find (module|package)/);
  // The backend that runs at info; the packages that are not installed only at debug, said as such.
  assert.deepEqual(
    lines.filter(([level]) => level === 'info'),
    [['info', 'tfjs backend: wasm']],
  );
  const skipped = lines.filter(([level]) => level === 'debug').map(([, m]) => m);
  assert.equal(skipped.length, 2);
  assert.match(
    skipped[0]!,
    /^@tensorflow\/tfjs-node-gpu not used: not installed \(an optional dependency\)/,
  );
  assert.match(skipped[1]!, /^@tensorflow\/tfjs-node not used: not installed/);
  // The chosen backend computes: (1+2)·2 = 6.
  const y = tf.mul(tf.add(tf.scalar(1), tf.scalar(2)), tf.scalar(2));
  assert.equal(y.dataSync()[0], 6);
  y.dispose();
});

test('forcing cpu works; an unknown backend fails with a clear error', async () => {
  const lines: string[] = [];
  assert.equal((await selectNodeBackend({ force: 'cpu', log: (m) => lines.push(m) })).name, 'cpu');
  assert.deepEqual(lines, ['tfjs backend: cpu (forced)']);
  assert.equal(tf.getBackend(), 'cpu');
  await assert.rejects(selectNodeBackend({ force: 'cuda' }), /unknown tfjs backend 'cuda'/);
});
