/**
 * The dispatch ledger of asynchronous rounds: an update must answer what its
 * client was sent, and its staleness comes from that record, not the client.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dispatches } from '../../../../server/coordinator/dispatches.js';
import type { RoundStart } from '../../../../shared/index.js';
import { deltaUpdate } from '../strategies/context.js';

function start(roundId: number, modelVersion: number, deadline: number): RoundStart {
  return {
    roundId,
    modelVersion,
    deadline,
    config: {
      epochs: 1,
      batchSize: 8,
      learningRate: 0.01,
      temperature: 1,
      alpha: 1,
      optimizer: 'sgd',
      updatePrecision: 'float32',
    },
  };
}

test('staleness is the versions published since the dispatch on record', () => {
  const dispatches = new Dispatches();
  dispatches.record('a', start(2, 1, 10_000));
  assert.deepEqual(
    dispatches.check('a', { ...deltaUpdate([0], 1, 2), modelVersion: 1 }, 4, 5_000),
    { staleness: 3 },
  );
  // A client claiming a fresher model than it was sent is refused, not believed.
  assert.equal(
    (
      dispatches.check('a', { ...deltaUpdate([0], 1, 2), modelVersion: 4 }, 4, 5_000) as {
        code: string;
      }
    ).code,
    'stale-model',
  );
  const refusal = (update: ReturnType<typeof deltaUpdate>, now = 5_000, id = 'a') =>
    (dispatches.check(id, update, 4, now) as { code?: string }).code;
  assert.equal(refusal({ ...deltaUpdate([0], 1, 3), modelVersion: 1 }), 'wrong-round');
  assert.equal(refusal({ ...deltaUpdate([0], 1, 2), modelVersion: 1 }, 10_001), 'too-late');
  assert.equal(refusal({ ...deltaUpdate([0], 1, 2), modelVersion: 1 }, 5_000, 'b'), 'not-sampled');
  dispatches.end('a');
  assert.equal(refusal({ ...deltaUpdate([0], 1, 2), modelVersion: 1 }), 'not-sampled');
  assert.ok(dispatches.idle('a'));
});

test('a client is idle once its deadline passes; a repeat dispatch gets a later deadline', () => {
  const dispatches = new Dispatches();
  const first = dispatches.record('a', start(1, 0, 1_000));
  assert.equal(dispatches.idle('a', 999), false);
  assert.equal(dispatches.outstanding('a', 999), first);
  assert.ok(dispatches.idle('a', 1_000));
  assert.equal(dispatches.outstanding('a', 1_000), undefined);
  // The client tells round:starts apart by roundId@deadline: the same pair would be ignored.
  const again = dispatches.record('a', start(1, 0, 1_000));
  assert.equal(again.deadline, 1_001);
  assert.equal(dispatches.record('b', start(1, 0, 1_000)).deadline, 1_000);
});

test('the latest dispatches are remembered, to tell a late answer from a forged claim', () => {
  const dispatches = new Dispatches();
  dispatches.record('a', start(1, 0, 10_000));
  dispatches.record('a', start(2, 1, 20_000));
  assert.equal(dispatches.wasSent('a', 1, 0), true, 'an earlier dispatch');
  assert.equal(dispatches.wasSent('a', 2, 1), true, 'the live one');
  assert.equal(dispatches.wasSent('a', 2, 0), false, 'never sent at that version');
  assert.equal(dispatches.wasSent('b', 1, 0), false, 'never sent to b');
  for (let round = 3; round < 20; round++) dispatches.record('a', start(round, round - 1, 30_000));
  assert.equal(dispatches.wasSent('a', 1, 0), false, 'only the latest 16 are kept');
  assert.equal(dispatches.wasSent('a', 4, 3), true);
});
