import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RunStore } from '../../../server/store.js';
import { UnjoinedRefusals } from '../../../server/refusalTally.js';

test('unjoined refusals are counted in memory and written as one row per reason', () => {
  const store = new RunStore(':memory:');
  try {
    store.createRun({ id: 'r', startedAt: 1, config: {}, teacherHash: 'h' });
    // A long interval: only explicit flushes write in this test.
    const tally = new UnjoinedRefusals(store, 'r', 3_600_000, () => 42);
    for (let i = 0; i < 1000; i++) tally.count('not-joined', 10);
    tally.count('invalid-payload', 7);
    assert.deepEqual(store.unjoinedRefusals('r'), [], 'nothing is written per refusal');
    tally.flush();
    assert.deepEqual(store.unjoinedRefusals('r'), [
      { code: 'invalid-payload', count: 1, bytes: 7, lastAt: 42 },
      { code: 'not-joined', count: 1000, bytes: 10_000, lastAt: 42 },
    ]);
    tally.count('not-joined', 5);
    tally.flush();
    tally.flush(); // nothing pending: no change
    assert.deepEqual(
      store.unjoinedRefusals('r').map((r) => [r.code, r.count, r.bytes]),
      [
        ['invalid-payload', 1, 7],
        ['not-joined', 1001, 10_005],
      ],
    );
    assert.deepEqual(store.updates('r'), [], 'no update rows');
  } finally {
    store.close();
  }
});

test('counted refusals are written by themselves within the flush interval', async () => {
  const store = new RunStore(':memory:');
  try {
    store.createRun({ id: 'r', startedAt: 1, config: {}, teacherHash: 'h' });
    const tally = new UnjoinedRefusals(store, 'r', 5);
    tally.count('not-joined', 1);
    tally.count('not-joined', 1);
    while (store.unjoinedRefusals('r').length === 0)
      await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(store.unjoinedRefusals('r')[0]!.count, 2);
  } finally {
    store.close();
  }
});
