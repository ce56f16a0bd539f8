/**
 * The master's round over edges: claims from edge-held clients (updates
 * without their delta), a direct client's delta, and the edges' partial sums
 * fold to the sample-weighted mean a single coordinator computes; a partial
 * that names a client the edge was not granted is refused through the port,
 * never folded in; strategies whose aggregate is not a sum are refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ContributionError, getStrategy } from '../../../../server/strategies/index.js';
import type { UpdateMessage } from '../../../../shared/index.js';
import { EdgeAggregatedStrategy, edgesConflict } from '../../../../server/edges/edgeAggregation.js';
import type { EdgeRoundPort, ReceivedPartial } from '../../../../server/edges/edgeAggregation.js';
import type { PartialMessage, RoundOpen } from '../../../../server/edges/messages.js';
import { DEFAULT_UPDATE_BOUND, UpdateBound } from '../../../../server/robustness/index.js';
import {
  deltaUpdate,
  metrics,
  quorumOf,
  roundContext,
  strategyContext,
} from '../strategies/context.js';

function claim(numSamples: number): UpdateMessage {
  return { roundId: 1, modelVersion: 0, numSamples, metrics };
}

function partial(clients: string[], sum: number[], weight: number): ReceivedPartial {
  const message: PartialMessage = {
    t: 'partial',
    roundId: 1,
    sum: Float64Array.from(sum),
    weight,
    clients,
    refusals: {},
    bytesIn: 0,
  };
  return { partial: message, bytes: 100 };
}

function fakePort(
  edgeOf: Record<string, string>,
  partials: Map<string, ReceivedPartial>,
  norms: Record<string, number> = {},
) {
  const opened: RoundOpen[] = [];
  const refused: string[] = [];
  const port: EdgeRoundPort = {
    edgeOf: (clientId) => edgeOf[clientId],
    claimNorm: (clientId) => norms[clientId] ?? (edgeOf[clientId] ? 1 : undefined),
    openRound: (message) => void opened.push(message),
    collect: () => Promise.resolve(partials),
    refusePartial: (edge, _round, reason) => void refused.push(`${edge}: ${reason}`),
    reportRound: () => undefined,
  };
  return { port, opened, refused };
}

test('claims, a direct delta and partial sums fold to the sample-weighted mean; an unclaimed partial is refused', async () => {
  const partials = new Map([
    // Edge e1 was granted a (3 samples, delta [1, 2]) and b (1 sample, delta [3, 6]).
    ['e1', partial(['a', 'b'], [3 * 1 + 1 * 3, 3 * 2 + 1 * 6], 4)],
    // Edge e2 was granted nothing: its partial is forged.
    ['e2', partial(['z'], [1000, 1000], 1)],
  ]);
  const { port, opened, refused } = fakePort({ a: 'e1', b: 'e1' }, partials);
  const strategy = new EdgeAggregatedStrategy(
    getStrategy('fedavg').create(strategyContext()),
    port,
    DEFAULT_UPDATE_BOUND,
  );
  const round = strategy.beginRound(roundContext(1, Float32Array.from([10, 20])));
  assert.deepEqual(opened, [
    {
      t: 'round:open',
      roundId: 1,
      numParams: 2,
      updateBound: DEFAULT_UPDATE_BOUND,
      normBound: DEFAULT_UPDATE_BOUND.maxNorm,
    },
  ]);
  round.accept('a', claim(3));
  round.accept('b', claim(1));
  // An edge keeps the delta: one that comes with it through an edge is refused.
  assert.throws(() => round.accept('b', deltaUpdate([0, 0], 1)), ContributionError);
  // A client of the master's own sends its delta: folded here (4 samples, delta [0, 1]).
  round.accept('c', deltaUpdate([0, 1], 4));
  const result = await round.aggregate(quorumOf(3));
  assert.equal(result.failure, undefined);
  assert.equal(result.participants, 3);
  // (3·[1, 2] + 1·[3, 6] + 4·[0, 1]) / 8 = [0.75, 2], added to [10, 20].
  assert.deepEqual([...result.weights!], [10.75, 22]);
  assert.equal(refused.length, 1);
  assert.match(refused[0]!, /^e2: client z has no accepted update through this edge/);
});

test('below quorum after the partials: nothing is applied', async () => {
  const { port } = fakePort({ a: 'e1' }, new Map([['e1', partial(['a'], [1, 1], 1)]]));
  const strategy = new EdgeAggregatedStrategy(
    getStrategy('fedkd').create(strategyContext()),
    port,
    DEFAULT_UPDATE_BOUND,
  );
  const round = strategy.beginRound(roundContext(1, Float32Array.from([0, 0])));
  round.accept('a', claim(1));
  const result = await round.aggregate(quorumOf(2));
  assert.match(result.failure!, /quorum/);
  assert.equal(result.weights, undefined);
});

test('strategies whose aggregate is not a sum are refused over edges, naming why', () => {
  const base = { strategy: 'fedavg', aggregator: { kind: 'fedavg' } } as Parameters<
    typeof edgesConflict
  >[0];
  assert.equal(edgesConflict(base), undefined);
  assert.equal(edgesConflict({ ...base, strategy: 'fedkd' }), undefined);
  // fedbuff's buffer is a sum of staleness-weighted deltas the master grants (edgeBuffering.ts).
  assert.equal(edgesConflict({ ...base, strategy: 'fedbuff' }), undefined);
  for (const strategy of ['feddf', 'fedmd', 'dsfl', 'local'])
    assert.match(
      edgesConflict({ ...base, strategy }) ?? '',
      new RegExp(`strategy ${strategy} cannot run over edges`),
    );
  assert.match(
    edgesConflict({ ...base, aggregator: { kind: 'median' } as never }) ?? '',
    /aggregator median .* needs every delta at once/,
  );
  // Secure aggregation runs per edge group (secureGroups.ts); differential privacy does not.
  assert.equal(
    edgesConflict({ ...base, secureAggregation: {} } as Parameters<typeof edgesConflict>[0]),
    undefined,
  );
  assert.match(edgesConflict({ ...base, privacy: {} as never }) ?? '', /differential privacy/);
});

test('a claim arriving while the master collects partials is refused too-late, not granted and lost', async () => {
  let releaseCollect: (() => void) | undefined;
  const partials = new Map([['e1', partial(['a'], [1, 1], 1)]]);
  const port: EdgeRoundPort = {
    ...fakePort({ a: 'e1', b: 'e1', c: undefined as never }, partials).port,
    collect: () =>
      new Promise((resolve) => {
        releaseCollect = () => resolve(partials);
      }),
  };
  const strategy = new EdgeAggregatedStrategy(
    getStrategy('fedavg').create(strategyContext()),
    port,
    DEFAULT_UPDATE_BOUND,
  );
  const round = strategy.beginRound(roundContext(1, Float32Array.from([0, 0])));
  round.accept('a', claim(1));
  const aggregated = round.aggregate(quorumOf(1));
  // The edges have closed their rounds: b's delta could no longer be folded, nor c's counted.
  for (const [client, update] of [
    ['b', claim(1)],
    ['c', deltaUpdate([5, 5], 1)],
  ] as const)
    assert.throws(
      () => round.accept(client, update),
      (error: unknown) => error instanceof ContributionError && error.code === 'too-late',
    );
  releaseCollect!();
  const result = await aggregated;
  assert.equal(result.participants, 1);
  assert.deepEqual([...result.weights!], [1, 1]);
});

test("edges screen with the master's bound, and the claims' norms adapt it as deltas would", async () => {
  const config = { ...DEFAULT_UPDATE_BOUND, medianMultiple: 2 };
  // The coordinator's part: one bound, the round's context carries it and screens claims' norms.
  const bound = new UpdateBound(config);
  const contextOf = (roundId: number) => {
    bound.openRound();
    return {
      ...roundContext(roundId, Float32Array.from([0, 0])),
      normBound: bound.bound,
      screenNorm: (norm: number) => {
        const verdict = bound.checkNorm(norm);
        if (verdict.action === 'refuse')
          throw new ContributionError(verdict.reason!, 'rejected-weights');
        bound.accepted(verdict);
        return verdict.reason ? { note: verdict.reason } : {};
      },
    };
  };
  const norms: Record<string, number> = { a: 1, b: 3 };
  const partials = new Map<string, ReceivedPartial>();
  const { port, opened, refused } = fakePort({ a: 'e1', b: 'e2' }, partials, norms);
  const strategy = new EdgeAggregatedStrategy(
    getStrategy('fedavg').create(strategyContext()),
    port,
    config,
  );
  // Round 1: no history, the bound is maxNorm; claims of norms 1 (edge e1) and 3 (edge e2).
  const first = strategy.beginRound(contextOf(1));
  assert.equal(opened[0]!.normBound, 100);
  assert.equal(first.accept('a', claim(1)), undefined);
  assert.equal(first.accept('b', claim(1)), undefined);
  partials.set('e1', partial(['a'], [1, 0], 1));
  partials.set('e2', partial(['b'], [0, 3], 1));
  assert.equal((await first.aggregate(quorumOf(1))).participants, 2);
  bound.closeRound(true);
  // Round 2: 2 × the median of [1, 3] = 4, sent to every edge; a norm of 10 is clipped to it.
  norms.a = 10;
  const second = strategy.beginRound({ ...contextOf(2), roundId: 2 });
  assert.equal(opened[1]!.normBound, 4);
  assert.deepEqual(second.accept('a', { ...claim(1), roundId: 2 }), {
    note: "clipped: norm 10 exceeds the round's bound 4",
  });
  // A partial no bounded delta can make (norm 5 for one sample) is refused at the master's bound.
  partials.clear();
  partials.set('e1', { partial: { ...partial(['a'], [3, 4], 1).partial, roundId: 2 }, bytes: 1 });
  const result = await second.aggregate(quorumOf(1));
  assert.equal(result.participants, 0);
  assert.match(refused.at(-1)!, /^e1: sum norm 5 exceeds 1 samples × maxNorm 4/);
});
