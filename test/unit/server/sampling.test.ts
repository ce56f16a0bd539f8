import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRng } from '../../../shared/index.js';
import { quorumSize, sampleClients } from '../../../server/sampling.js';

test('samples max(minClients, ⌈fraction·n⌉) distinct clients, capped at n', () => {
  const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
  assert.equal(sampleClients(ids, 0.3, 2, createRng(1)).length, 3); // ⌈0.3·10⌉ = 3
  assert.equal(sampleClients(ids, 0.1, 4, createRng(1)).length, 4); // min wins
  assert.equal(sampleClients(ids.slice(0, 3), 0.5, 5, createRng(1)).length, 3); // capped
  const picked = sampleClients(ids, 0.5, 1, createRng(7));
  assert.equal(new Set(picked).size, picked.length);
  for (const id of picked) assert.ok(ids.includes(id));
});

test('sampling is seeded and ignores connection order', () => {
  const ids = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
  const a = sampleClients(ids, 0.5, 1, createRng(3));
  const b = sampleClients([...ids].reverse(), 0.5, 1, createRng(3));
  assert.deepEqual(a, b);
});

test('quorum is ⌈quorum·sampled⌉ and at least one', () => {
  assert.equal(quorumSize(4, 0.5), 2);
  assert.equal(quorumSize(3, 0.5), 2);
  assert.equal(quorumSize(1, 0.1), 1);
  assert.equal(quorumSize(5, 1), 5);
});
