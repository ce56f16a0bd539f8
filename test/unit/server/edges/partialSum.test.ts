/**
 * The master's checks of an edge's partial sum and the seal on every edge
 * message: a partial is folded only when it names clients whose updates the
 * master accepted through that edge, weighs exactly their samples, and is
 * finite and within what bounded deltas can sum to.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PartialSum, partialProblem } from '../../../../server/edges/partialSum.js';
import type { PartialExpectation } from '../../../../server/edges/partialSum.js';
import type { PartialMessage } from '../../../../server/edges/messages.js';
import { ReplayGuard, seal, verifySeal } from '../../../../server/edges/envelope.js';

const expected: PartialExpectation = {
  roundId: 3,
  numParams: 2,
  claims: new Map([
    ['a', 10],
    ['b', 30],
  ]),
  updateBound: { maxNorm: 100, maxCoordinate: 10 },
};

function partialOf(sum: PartialSum, roundId = 3): PartialMessage {
  return {
    t: 'partial',
    roundId,
    sum: sum.sum,
    weight: sum.weight,
    clients: sum.clients,
    refusals: {},
    bytesIn: 0,
  };
}

test('partial sums fold to the sample-weighted mean (hand-computed)', () => {
  const edgeA = new PartialSum(2);
  edgeA.add('a', new Float32Array([1, -2]), 10);
  const edgeB = new PartialSum(2);
  edgeB.add('b', new Float32Array([3, 2]), 30);
  const total = new PartialSum(2);
  total.merge(edgeA.sum, edgeA.weight, edgeA.clients);
  total.merge(edgeB.sum, edgeB.weight, edgeB.clients);
  // (10·1 + 30·3) / 40 = 2.5, (10·−2 + 30·2) / 40 = 1
  assert.deepEqual([...total.mean()], [2.5, 1]);
  assert.deepEqual(total.clients, ['a', 'b']);
});

test('a partial of granted claims passes; each kind of forgery is refused with its reason', () => {
  const honest = new PartialSum(2);
  honest.add('a', new Float32Array([1, -2]), 10);
  honest.add('b', new Float32Array([3, 2]), 30);
  assert.equal(partialProblem(partialOf(honest), expected), undefined);
  const cases: [Partial<PartialMessage>, RegExp][] = [
    [{ roundId: 2 }, /round 2, the open round is 3/],
    [{ clients: ['a', 'a'], weight: 20 }, /appears twice/],
    [{ clients: ['a', 'c'] }, /client c has no accepted update/],
    [{ weight: 41 }, /weight 41 differs/],
    [{ sum: new Float64Array(3) }, /sum has 3 values/],
    [{ sum: new Float64Array([Number.NaN, 0]) }, /not finite/],
    [{ sum: new Float64Array([401, 0]) }, /beyond 40 samples × maxCoordinate 10/],
    [{ sum: new Float64Array([400, 400]) }, /exceeds 40 samples × maxNorm/],
  ];
  const narrow = { ...expected, updateBound: { maxNorm: 10, maxCoordinate: 10 } };
  for (const [change, reason] of cases) {
    const problem = partialProblem({ ...partialOf(honest), ...change }, narrow);
    assert.match(problem ?? 'passed', reason);
  }
  const { sum: _none, ...withoutSum } = partialOf(honest);
  assert.match(partialProblem(withoutSum, expected) ?? 'passed', /no sum/);
});

test('an edge message verifies only under its secret, stream, direction, sender, incarnation, sequence and body', () => {
  const context = {
    secret: 'a-secret-of-16-chars',
    stream: 'fedistill:edges:a:up',
    direction: 'up',
  } as const;
  const body = new Uint8Array([1, 2, 3]);
  const sealed = seal(context, { edge: 'edge-a', incarnation: 'i1', seq: 1, body });
  assert.ok(verifySeal(context, sealed));
  assert.ok(!verifySeal({ ...context, secret: 'another-secret-16chars' }, sealed));
  assert.ok(!verifySeal({ ...context, direction: 'down' }, sealed));
  assert.ok(!verifySeal({ ...context, stream: 'fedistill:edges:b:up' }, sealed));
  assert.ok(!verifySeal(context, { ...sealed, edge: 'edge-b' }));
  assert.ok(!verifySeal(context, { ...sealed, incarnation: 'i2' }));
  assert.ok(!verifySeal(context, { ...sealed, seq: 2 }));
  assert.ok(!verifySeal(context, { ...sealed, body: new Uint8Array([1, 2, 4]) }));
  assert.ok(!verifySeal(context, { ...sealed, mac: sealed.mac.slice(1) }));
});

test('the replay guard passes rising sequences and new incarnations, refuses repeats and replaced incarnations', () => {
  const guard = new ReplayGuard();
  assert.equal(guard.check('e', 'i1', 1), undefined);
  assert.equal(guard.check('e', 'i1', 3), undefined);
  assert.match(guard.check('e', 'i1', 3) ?? 'passed', /not after 3/);
  assert.match(guard.check('e', 'i1', 2) ?? 'passed', /not after 3/);
  assert.equal(guard.check('f', 'i1', 1), undefined, 'senders are apart');
  assert.equal(guard.check('e', 'i2', 1), undefined, 'a restart');
  assert.match(guard.check('e', 'i1', 4) ?? 'passed', /was replaced/);
});
