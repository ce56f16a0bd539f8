import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandMask } from '../../../../shared/secureAggregation/index.js';
import { addMask, addMasks, startAll } from '../../../../shared/secureAggregation/masks.js';

function seedOf(byte: number): Uint8Array {
  return new Uint8Array(32).fill(byte);
}

test('expandMask is the AES-256-CTR keystream (counter 0) read as little-endian uint32 words', async () => {
  const seed = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
  const length = 1001; // odd, not a multiple of the 4-word AES block
  const key = await crypto.subtle.importKey('raw', seed, 'AES-CTR', false, ['encrypt']);
  const stream = await crypto.subtle.encrypt(
    { name: 'AES-CTR', counter: new Uint8Array(16), length: 64 },
    key,
    new Uint8Array(length * 4),
  );
  const view = new DataView(stream);
  const expected = Array.from({ length }, (_, i) => view.getUint32(i * 4, true));
  const mask = await expandMask(seed, length);
  assert.equal(mask.length, length);
  assert.deepEqual(Array.from(mask), expected);
});

test('addMasks equals adding each mask in turn, whatever the look-ahead', async () => {
  const length = 513;
  const start = Uint32Array.from({ length }, (_, i) => (i * 2654435761) >>> 0);
  const terms = [1, 2, 3, 4, 5].map((b, k) => ({ seed: seedOf(b), sign: k % 2 ? -1 : 1 }) as const);
  const expected = Uint32Array.from(start);
  for (const t of terms) addMask(expected, await expandMask(t.seed, length), t.sign);
  for (const ahead of [1, 2, 3, 8]) {
    const acc = Uint32Array.from(start);
    await addMasks(
      acc,
      terms.map((t) => ({ ...t, seed: Promise.resolve(t.seed) })),
      ahead,
    );
    assert.deepEqual(acc, expected, `ahead ${ahead}`);
  }
  // +mask then −mask of the same seed cancels exactly (mod 2³²).
  const acc = Uint32Array.from(start);
  await addMasks(acc, [
    { seed: seedOf(9), sign: 1 },
    { seed: seedOf(9), sign: -1 },
  ]);
  assert.deepEqual(acc, start);
});

test('addMasks rejects with a failing seed and leaves no unhandled rejection behind', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const failing = Promise.reject(new Error('derivation failed'));
    const laterFailing = Promise.reject(new Error('never reached'));
    const terms = startAll([0, 1, 2, 3], async (i) => {
      if (i === 1) return failing;
      if (i === 3) return laterFailing;
      return seedOf(i + 1);
    });
    await assert.rejects(
      addMasks(
        new Uint32Array(16),
        terms.map((seed) => ({ seed, sign: 1 as const })),
        1,
      ),
      /derivation failed/,
    );
    // A seed of the wrong size is refused by expandMask.
    await assert.rejects(
      addMasks(new Uint32Array(4), [{ seed: new Uint8Array(5), sign: 1 }]),
      /32 bytes/,
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
