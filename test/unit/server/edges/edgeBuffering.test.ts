/**
 * fedbuff over edges, its bookkeeping: the master's grants (buffer, s(τ), id,
 * clip) and its checks of an edge's partial against them; an edge's partial
 * per buffer; and the master's buffer of claims, direct deltas and partials,
 * which must give the aggregate one coordinator's fedbuff gives for the same
 * updates — w + η/n·Σ s(τᵢ)·Δᵢ — computed by hand.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EdgeRoundPort, ReceivedPartial } from '../../../../server/edges/edgeAggregation.js';
import { EdgeBufferedStrategy } from '../../../../server/edges/edgeBuffering.js';
import { EdgeEpochs } from '../../../../server/edges/edgeEpochs.js';
import type { GrantRecord } from '../../../../server/edges/edgeGrants.js';
import { GrantLedger, bufferedPartialProblem } from '../../../../server/edges/edgeGrants.js';
import type { Grant, PartialMessage, RoundOpen } from '../../../../server/edges/messages.js';
import { DEFAULT_UPDATE_BOUND, UpdateBound } from '../../../../server/robustness/index.js';
import { ContributionError, getStrategy } from '../../../../server/strategies/index.js';
import type { UpdateMessage } from '../../../../shared/index.js';
import {
  deltaUpdate,
  metrics,
  quorumOf,
  roundContext,
  strategyContext,
} from '../strategies/context.js';

const BOUND = { maxNorm: 10, maxCoordinate: 5 };

function bufferedPartial(epoch: number, ids: string[], sum: number[], weight: number) {
  const message: PartialMessage = {
    t: 'partial',
    roundId: epoch,
    ...(ids.length > 0 ? { sum: Float64Array.from(sum) } : {}),
    weight,
    clients: ids,
    refusals: {},
    bytesIn: 0,
  };
  return message;
}

function grants(entries: [string, number][]): Map<string, GrantRecord> {
  return new Map(
    entries.map(([id, weight]) => [id, { clientId: `c-${id}`, weight, staleness: 0 }]),
  );
}

test('the ledger names each grant once, hands it to one ack, and forgets a closed buffer', () => {
  const ledger = new GrantLedger();
  const g1 = ledger.grant(3, 'e1', { clientId: 'a', weight: 1, staleness: 0 });
  const g2 = ledger.grant(3, 'e1', { clientId: 'a', weight: 0.5, staleness: 3 }, 0.25);
  const g3 = ledger.grant(3, 'e2', { clientId: 'b', weight: 0.5, staleness: 3 }, 1);
  // One client, two updates in one buffer: two grants, told apart by id.
  assert.notEqual(g1.id, g2.id);
  assert.deepEqual(g2, { epoch: 3, weight: 0.5, id: g2.id, clip: 0.25 });
  assert.equal(g3.clip, undefined, 'no clip factor when nothing was clipped');
  // The ack of a's latest claim carries its grant, once.
  assert.deepEqual(ledger.take('a'), g2);
  assert.equal(ledger.take('a'), undefined);
  assert.deepEqual(ledger.edges(3).sort(), ['e1', 'e2']);
  assert.deepEqual([...ledger.grantsOf(3, 'e1').keys()], [g1.id, g2.id]);
  assert.equal(ledger.grantsOf(3, 'e2').get(g3.id)?.staleness, 3);
  ledger.close(3);
  assert.deepEqual(ledger.edges(3), []);
  assert.equal(ledger.grantsOf(3, 'e1').size, 0);
  assert.equal(ledger.take('b'), undefined, "an ack never sent carries no closed buffer's grant");
});

test("an edge's partial must name its own grants of the buffer once, weigh their s(τ), and be bounded", () => {
  const expected = {
    epoch: 4,
    numParams: 2,
    grants: grants([
      ['g1', 1],
      ['g2', 0.5],
    ]),
    updateBound: BOUND,
  };
  const ok = bufferedPartialProblem(bufferedPartial(4, ['g1', 'g2'], [1, 2], 1.5), expected);
  assert.equal(ok, undefined);
  // A grant whose ack never reached the edge is missing: the rest still folds.
  assert.equal(
    bufferedPartialProblem(bufferedPartial(4, ['g2'], [1, 2], 0.5), expected),
    undefined,
  );
  assert.equal(bufferedPartialProblem(bufferedPartial(4, [], [], 0), expected), undefined);
  const problems: [PartialMessage, RegExp][] = [
    [bufferedPartial(5, ['g1'], [1, 1], 1), /buffer 5, the closing buffer is 4/],
    [bufferedPartial(4, ['g1', 'g1'], [1, 1], 2), /grant g1 appears twice/],
    [bufferedPartial(4, ['g9'], [1, 1], 1), /grant g9 was not made to this edge for buffer 4/],
    // Weighted by sample counts, or not by s(τ) at all: refused.
    [bufferedPartial(4, ['g1', 'g2'], [1, 1], 2), /weight 2 differs .* \(1\.5\)/],
    [bufferedPartial(4, ['g1'], [1, 1, 1], 1), /sum has 3 values, the student 2/],
    [bufferedPartial(4, ['g1'], [Number.NaN, 1], 1), /sum value 0 is NaN, not finite/],
    // Weight 1.5 × maxCoordinate 5 = 7.5 per coordinate.
    [bufferedPartial(4, ['g1', 'g2'], [7.6, 0], 1.5), /beyond weight 1\.5 × maxCoordinate 5/],
    [
      (({ sum: _sum, ...rest }) => rest)(bufferedPartial(4, ['g1'], [1, 1], 1)),
      /1 grant\(s\) but no sum/,
    ],
  ];
  for (const [partial, reason] of problems)
    assert.match(bufferedPartialProblem(partial, expected) ?? 'accepted', reason);
  // Under maxNorm 5 the norm may be at most 1.5 × 5 = 7.5: |[6, 6]| = 8.49 is beyond it.
  const tight = { ...expected, updateBound: { maxNorm: 5, maxCoordinate: 5 } };
  assert.match(
    bufferedPartialProblem(bufferedPartial(4, ['g1', 'g2'], [6, 6], 1.5), tight) ?? 'accepted',
    /sum norm 8\.48\d* exceeds weight 1\.5 × maxNorm 5/,
  );
});

function opening(roundId: number): RoundOpen {
  return {
    t: 'round:open',
    roundId,
    numParams: 2,
    updateBound: DEFAULT_UPDATE_BOUND,
    normBound: 10,
    buffered: true,
  };
}

test('an edge folds s(τ)·clip·Δ into the buffer its grant names and sends one partial per buffer', () => {
  const epochs = new EdgeEpochs();
  assert.equal(epochs.screen, undefined);
  epochs.begin(opening(1));
  assert.equal((epochs.screen as { numParams: number } | undefined)?.numParams, 2);
  const grant = (epoch: number, id: string, weight: number, clip?: number): Grant => ({
    epoch,
    id,
    weight,
    ...(clip ? { clip } : {}),
  });
  assert.equal(epochs.fold(grant(1, 'a', 1), Float32Array.from([1, 2])), undefined);
  assert.equal(epochs.fold(grant(1, 'b', 0.5, 0.5), Float32Array.from([4, 8])), undefined);
  // A claim answered while buffer 1 is being collected belongs to buffer 2.
  assert.equal(epochs.fold(grant(2, 'c', 0.25), Float32Array.from([4, 4])), undefined);
  epochs.tally('rejected-weights', 7);
  epochs.answered(30);
  const first = epochs.close(1);
  assert.deepEqual(first.dropped, []);
  // 1·[1, 2] + 0.5·0.5·[4, 8] = [2, 4]; weight 1 + 0.5 (s(τ) only: clipping is no weight).
  assert.deepEqual([...first.partial.sum!], [2, 4]);
  assert.equal(first.partial.weight, 1.5);
  assert.deepEqual(first.partial.clients, ['a', 'b']);
  assert.deepEqual(first.partial.refusals, { 'rejected-weights': { count: 1, bytes: 7 } });
  assert.equal(first.partial.bytesIn, 37);
  // Buffer 1's partial has gone: a grant for it is never folded; nor a malformed one.
  assert.match(epochs.fold(grant(1, 'late', 1), Float32Array.from([1, 1])) ?? '', /has gone/);
  assert.match(
    epochs.fold({ epoch: 2, id: 'x', weight: 2 }, Float32Array.from([1, 1])) ?? '',
    /not a grant/,
  );
  assert.match(epochs.fold(grant(2, 'y', 1), Float32Array.from([1])) ?? '', /delta has 1 values/);
  // The opening sent again (the master took the edge for new) keeps buffer 2's sum.
  epochs.begin(opening(2));
  const second = epochs.close(2);
  assert.deepEqual([...second.partial.sum!], [1, 1]);
  assert.deepEqual(second.partial.clients, ['c']);
  assert.deepEqual(second.partial.refusals, {}, 'each refusal goes in one partial');
  // A buffer nothing was granted to here: an empty partial.
  epochs.begin(opening(3));
  const third = epochs.close(3);
  assert.deepEqual(third.partial, bufferedPartial(3, [], [], 0));
});

function claim(modelVersion: number): UpdateMessage {
  return { roundId: 1, modelVersion, numSamples: 5, metrics };
}

function bufferedPort(
  edgeOf: Record<string, string>,
  partials: (ledgered: Grant[]) => Map<string, ReceivedPartial>,
  norms: Record<string, number> = {},
) {
  const opened: RoundOpen[] = [];
  const refused: string[] = [];
  const issued: Grant[] = [];
  let strategy: EdgeBufferedStrategy | undefined;
  const port: EdgeRoundPort = {
    edgeOf: (clientId) => edgeOf[clientId],
    claimNorm: (clientId) => norms[clientId] ?? (edgeOf[clientId] ? 1 : undefined),
    openRound: (message) => void opened.push(message),
    collect: () => Promise.resolve(partials(issued)),
    refusePartial: (edge, _round, reason) => void refused.push(`${edge}: ${reason}`),
    reportRound: () => undefined,
  };
  return {
    port,
    opened,
    refused,
    /** What the acks would carry: taken right after each accept, as the hub does. */
    take: (clientId: string) => {
      const grant = strategy!.takeGrant(clientId);
      if (grant) issued.push(grant);
      return grant;
    },
    use: (s: EdgeBufferedStrategy) => (strategy = s),
  };
}

const FEDBUFF = {
  strategy: 'fedbuff',
  fedbuff: { bufferSize: 4, maxStaleness: 3, serverLearningRate: 0.5 },
} as const;

test('over edges a buffer aggregates to one coordinator’s w + η/n·Σ s(τ)·Δ; a forged partial is refused', async () => {
  // Edge e1 holds a (Δ [2, 0], τ 0) and b (Δ [0, 4], τ 3); e2 holds d (Δ [4, 4], τ 1, clipped
  // by the master's bound 3 from norm √32); c is the master's own (Δ [1, 1], τ 0).
  const harness = bufferedPort(
    { a: 'e1', b: 'e1', d: 'e2' },
    (issued) => {
      const [ga, gb, gd] = issued;
      const s1 = 1 / Math.sqrt(2);
      const clip = 3 / Math.sqrt(32);
      return new Map([
        ['e1', { partial: bufferedPartial(2, [ga!.id, gb!.id], [1 * 2, 0.5 * 4], 1.5), bytes: 90 }],
        [
          'e2',
          { partial: bufferedPartial(2, [gd!.id], [s1 * clip * 4, s1 * clip * 4], s1), bytes: 90 },
        ],
        // Sealed with the secret, but for grants never made to it.
        ['e3', { partial: bufferedPartial(2, [ga!.id], [5, 5], 1), bytes: 90 }],
      ]);
    },
    { a: 2, b: 4, d: Math.sqrt(32) },
  );
  const strategy = new EdgeBufferedStrategy(
    getStrategy('fedbuff').create(strategyContext(FEDBUFF)),
    harness.port,
    { ...DEFAULT_UPDATE_BOUND, onExcess: 'clip' },
  );
  harness.use(strategy);
  const bound = new UpdateBound({ ...DEFAULT_UPDATE_BOUND, maxNorm: 3, onExcess: 'clip' });
  const round = strategy.beginRound({
    ...roundContext(2, Float32Array.from([10, 20])),
    normBound: 3,
    screenNorm: (norm) => {
      const verdict = bound.checkNorm(norm);
      return verdict.reason ? { note: verdict.reason } : {};
    },
  });
  assert.equal(harness.opened[0]?.buffered, true, 'edges learn the round is buffered');
  assert.deepEqual(round.accept('a', claim(1), { staleness: 0 }), {
    note: 'staleness 0, weight 1.00000',
  });
  const ga = harness.take('a')!;
  assert.deepEqual(ga, { epoch: 2, weight: 1, id: ga.id });
  // Too stale: refused as one coordinator refuses it, and nothing is granted.
  assert.throws(
    () => round.accept('b', claim(0), { staleness: 4 }),
    (error: unknown) => error instanceof ContributionError && error.code === 'stale-model',
  );
  assert.equal(harness.take('b'), undefined);
  round.accept('b', claim(0), { staleness: 3 });
  assert.equal(harness.take('b')!.weight, 0.5);
  round.accept('c', deltaUpdate([1, 1], 5), { staleness: 0 });
  assert.equal(round.complete?.(), false);
  const noted = round.accept('d', claim(1), { staleness: 1 });
  assert.match(noted?.note ?? '', /^staleness 1, weight 0\.707107; clipped: norm 5\.65685 exceeds/);
  const gd = harness.take('d')!;
  assert.ok(Math.abs(gd.clip! - 3 / Math.sqrt(32)) < 1e-15, 'the edge is told to clip');
  assert.equal(round.complete?.(), true, 'K = 4 arrivals, claims counted');
  assert.throws(
    () => round.accept('e', deltaUpdate([1, 1], 5), { staleness: 0 }),
    (error: unknown) => error instanceof ContributionError && error.code === 'too-late',
  );
  const result = await round.aggregate(quorumOf(4));
  assert.equal(result.failure, undefined);
  assert.equal(result.participants, 4);
  // Σ s(τ)Δ = [2, 0] + ½·[0, 4] + [1, 1] + (1/√2)·(3/√32)·[4, 4] = [2, 2] + [1, 1] + [1.5, 1.5]
  // = [4.5, 4.5]; η/n = 0.5/4: w + [4.5, 4.5]/8.
  const expected = [10 + 4.5 / 8, 20 + 4.5 / 8];
  for (let i = 0; i < 2; i++)
    assert.ok(Math.abs(result.weights![i]! - expected[i]!) < 1e-6, `${result.weights![i]}`);
  assert.deepEqual(result.staleness, { mean: (0 + 3 + 0 + 1) / 4, max: 3 });
  assert.equal(harness.refused.length, 1);
  assert.match(harness.refused[0]!, /^e3: grant \S+ was not made to this edge for buffer 2/);

  // One coordinator's fedbuff with the same deltas (d's clipped as the edge folds it).
  const single = getStrategy('fedbuff').create(strategyContext(FEDBUFF));
  const plain = single.beginRound(roundContext(2, Float32Array.from([10, 20])));
  const clipped = 3 / Math.sqrt(32);
  plain.accept('a', deltaUpdate([2, 0], 5), { staleness: 0 });
  plain.accept('b', deltaUpdate([0, 4], 5), { staleness: 3 });
  plain.accept('c', deltaUpdate([1, 1], 5), { staleness: 0 });
  plain.accept('d', deltaUpdate([4 * clipped, 4 * clipped], 5), { staleness: 1 });
  const reference = await plain.aggregate(quorumOf(4));
  for (let i = 0; i < 2; i++)
    assert.ok(Math.abs(result.weights![i]! - reference.weights![i]!) < 1e-6);
});

test('a claim without its norm, or with its delta, is refused; a refused partial leaves the buffer short', async () => {
  const harness = bufferedPort(
    { a: 'e1' },
    (issued) =>
      new Map([
        // Weighted by sample count, not by the grant's s(τ): refused, never folded.
        ['e1', { partial: bufferedPartial(1, [issued[0]!.id], [10, 10], 5), bytes: 90 }],
      ]),
  );
  const strategy = new EdgeBufferedStrategy(
    getStrategy('fedbuff').create(strategyContext(FEDBUFF)),
    harness.port,
    DEFAULT_UPDATE_BOUND,
  );
  harness.use(strategy);
  const round = strategy.beginRound(roundContext(1, Float32Array.from([0, 0])));
  assert.throws(
    () => round.accept('a', deltaUpdate([1, 1], 5), { staleness: 0 }),
    (error: unknown) => error instanceof ContributionError && error.code === 'invalid-payload',
  );
  assert.throws(() => round.accept('z', claim(0), { staleness: 0 }), /needs a weight delta/);
  round.accept('a', claim(0), { staleness: 0 });
  harness.take('a');
  const result = await round.aggregate(quorumOf(1));
  assert.equal(result.participants, 0);
  assert.match(result.failure!, /no weight delta arrived/);
  assert.equal(result.weights, undefined);
  assert.match(
    harness.refused[0]!,
    /^e1: weight 5 differs from its grants' staleness weights \(1\)/,
  );
});

test("a claim let in from the wait for the buffer has its grant sent before the buffer's close", async () => {
  let collectedAfter: Grant[] | undefined;
  const harness = bufferedPort({ a: 'e1' }, (issued) => {
    collectedAfter = [...issued];
    return new Map();
  });
  const strategy = new EdgeBufferedStrategy(
    getStrategy('fedbuff').create(
      strategyContext({ ...FEDBUFF, fedbuff: { ...FEDBUFF.fedbuff, bufferSize: 1 } }),
    ),
    harness.port,
    DEFAULT_UPDATE_BOUND,
  );
  harness.use(strategy);
  const round = strategy.beginRound(roundContext(1, Float32Array.from([0, 0])));
  round.accept('a', claim(0), { staleness: 0 });
  // Its ack goes a few promise steps later (coordinator/asynchronousRounds.ts), while the
  // run loop, told the buffer is full, goes on to aggregate it.
  void Promise.resolve()
    .then(() => undefined)
    .then(() => undefined)
    .then(() => undefined)
    .then(() => harness.take('a'));
  await round.aggregate(quorumOf(1));
  assert.equal(collectedAfter?.length, 1, 'the grant went out before the edges were told');
});
