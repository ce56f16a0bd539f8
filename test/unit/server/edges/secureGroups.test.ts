/**
 * Secure aggregation per edge group at the master (server/edges/secureGroups.ts):
 * groups form per edge from a round's sampled clients (the directly connected
 * ones the master's own), a group below k sits the round out — no round:start,
 * nobody waits for it, a row per client says why — and a secure partial is
 * folded only when it names members of the group the master formed, each once
 * and granted, weighs their join-time sample counts, holds at least t clients,
 * and is of the right length, finite and bounded. Folded, the groups' sums
 * give the sample-weighted mean delta (hand-computed).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCoordinatorConfig } from '../../../../server/config.js';
import type { ReceivedPartial } from '../../../../server/edges/edgeAggregation.js';
import type {
  PartialMessage,
  RoundOpen,
  SecureGroupOpen,
} from '../../../../server/edges/messages.js';
import type { SecureGroupPort } from '../../../../server/edges/secureGroups.js';
import {
  SecureEdgeGroupsStrategy,
  formSecureGroups,
  securePartialProblem,
} from '../../../../server/edges/secureGroups.js';
import { DEFAULT_UPDATE_BOUND } from '../../../../server/robustness/index.js';
import type { RoundContext, ContributionError } from '../../../../server/strategies/index.js';
import { getStrategy } from '../../../../server/strategies/index.js';
import type { UpdateMessage } from '../../../../shared/index.js';
import { metrics, quorumOf, strategyContext } from '../strategies/context.js';

const member = (clientId: string, numSamples: number) => ({ clientId, numSamples });

test('groups form per edge in sampling order; the directly connected form the master own; a group below k sits out, saying why', () => {
  const edgeOf: Record<string, string> = { a: 'e1', b: 'e2', c: 'e1', d: 'e1', e: 'e2' };
  const { groups, sittingOut } = formSecureGroups(
    [
      member('a', 1),
      member('b', 2),
      member('c', 3),
      member('f', 4),
      member('d', 5),
      member('e', 6),
    ],
    (id) => edgeOf[id],
    3,
  );
  assert.deepEqual(groups, [
    { edge: 'e1', members: [member('a', 1), member('c', 3), member('d', 5)] },
  ]);
  assert.deepEqual(
    sittingOut.map((g) => [g.edge, g.members.map((m) => m.clientId), g.reason]),
    [
      [
        'e2',
        ['b', 'e'],
        'secure group of edge e2 has 2 sampled client(s), fewer than minGroupSize 3',
      ],
      [
        undefined,
        ['f'],
        "secure group of the master's own clients has 1 sampled client(s), fewer than minGroupSize 3",
      ],
    ],
  );
  // k = 2: the edge of two runs, the master's one client still sits out.
  const two = formSecureGroups(
    [member('b', 2), member('e', 6), member('f', 4)],
    (id) => edgeOf[id],
    2,
  );
  assert.deepEqual(
    two.groups.map((g) => g.edge),
    ['e2'],
  );
  assert.deepEqual(
    two.sittingOut.map((g) => g.edge),
    [undefined],
  );
});

test('minGroupSize defaults to 3 and must be at least 2', () => {
  assert.equal(
    parseCoordinatorConfig({ secureAggregation: {} }).secureAggregation?.minGroupSize,
    3,
  );
  assert.equal(
    parseCoordinatorConfig({ secureAggregation: { minGroupSize: 5 } }).secureAggregation
      ?.minGroupSize,
    5,
  );
  for (const bad of [1, 0, 2.5])
    assert.throws(
      () => parseCoordinatorConfig({ secureAggregation: { minGroupSize: bad } }),
      /minGroupSize/,
    );
});

function securePartial(clients: string[], sum: number[] | undefined, weight: number, roundId = 1) {
  const message: PartialMessage = {
    t: 'partial',
    roundId,
    ...(sum ? { sum: Float64Array.from(sum) } : {}),
    weight,
    clients,
    refusals: {},
    bytesIn: 0,
  };
  return message;
}

test('a secure partial is checked against the group the master formed, its grants, t and the bound', () => {
  const expected = {
    roundId: 4,
    numParams: 2,
    members: new Map([
      ['a', 3],
      ['b', 1],
      ['c', 2],
    ]),
    granted: new Set(['a', 'b', 'c']),
    threshold: 2,
    updateBound: { maxCoordinate: 10, maxNorm: 100 },
  };
  const ok = securePartial(['a', 'c'], [5, -5], 5, 4);
  assert.equal(securePartialProblem(ok, expected), undefined);
  // Nothing unmasked (too few stayed): folds nothing, refused nothing.
  assert.equal(securePartialProblem(securePartial([], undefined, 0, 4), expected), undefined);
  const cases: [PartialMessage, RegExp][] = [
    [securePartial(['a', 'c'], [5, -5], 5, 3), /for round 3, the open round is 4/],
    [securePartial(['a', 'z'], [5, -5], 4, 4), /client z is not in the secure group/],
    [securePartial(['a', 'a'], [5, -5], 6, 4), /client a appears twice/],
    // Join-time counts: a and c weigh 3 + 2, not what the edge says.
    [
      securePartial(['a', 'c'], [5, -5], 6, 4),
      /weight 6 differs from its clients' sample counts \(5\)/,
    ],
    [
      securePartial(['a'], [5, -5], 3, 4),
      /a secure sum of 1 client\(s\), below the group's threshold t = 2/,
    ],
    [securePartial(['a', 'c'], [5, -5, 0], 5, 4), /sum has 3 values, the student 2/],
    [securePartial(['a', 'c'], [5, Number.NaN], 5, 4), /sum value 1 is NaN, not finite/],
    [securePartial(['a', 'c'], [5, 51], 5, 4), /beyond 5 samples × maxCoordinate 10/],
    [securePartial(['a', 'c'], undefined, 5, 4), /2 client\(s\) but no sum/],
  ];
  for (const [partial, why] of cases)
    assert.match(securePartialProblem(partial, expected) ?? '', why);
  // A member whose claim the master never granted.
  assert.match(
    securePartialProblem(ok, { ...expected, granted: new Set(['a']) }) ?? '',
    /client c has no accepted update through this edge/,
  );
});

function fakePort(edgeOf: Record<string, string>, partials: Map<string, ReceivedPartial>) {
  const opened: RoundOpen[] = [];
  const groups: [string, SecureGroupOpen][] = [];
  const sittingOut: [number, string[], string][] = [];
  const refused: string[] = [];
  const collected: { waitFor: string[]; extraMs: number | undefined }[] = [];
  const port: SecureGroupPort = {
    edgeOf: (clientId) => edgeOf[clientId],
    claimNorm: () => undefined,
    openRound: (message) => void opened.push(message),
    collect: (_roundId, waitFor, extraMs) => {
      collected.push({ waitFor: [...waitFor], extraMs });
      return Promise.resolve(partials);
    },
    refusePartial: (edge, _round, reason) => void refused.push(`${edge}: ${reason}`),
    reportRound: () => undefined,
    openSecureGroup: (edge, message) => void groups.push([edge, message]),
    recordSittingOut: (roundId, clientIds, reason) =>
      void sittingOut.push([roundId, [...clientIds], reason]),
  };
  return { port, opened, groups, sittingOut, refused, collected };
}

function claim(numSamples: number, session: string): UpdateMessage {
  return { roundId: 1, modelVersion: 0, numSamples, session, metrics };
}

function context(sampled: { clientId: string; numSamples: number }[]): RoundContext {
  return {
    roundId: 1,
    global: Float32Array.from([10, 20]),
    sampled,
    deadline: Date.now() + 60_000,
    attempt: 'run/1@0',
  };
}

test('over two edge groups the master folds their sums to the sample-weighted mean; a group below k sits out and a bad partial is refused', async () => {
  const edgeOf: Record<string, string> = { a: 'e1', b: 'e1', c: 'e2', d: 'e2', e: 'e3' };
  // e1: a (3 samples, delta [1, 2]) and b (1, [3, 6]); e2: c (2, [0, 1]) and d (2, [1, 1]).
  const partials = new Map<string, ReceivedPartial>([
    ['e1', { partial: securePartial(['a', 'b'], [3 * 1 + 1 * 3, 3 * 2 + 1 * 6], 4), bytes: 10 }],
    ['e2', { partial: securePartial(['c', 'd'], [2 * 0 + 2 * 1, 2 * 1 + 2 * 1], 4), bytes: 10 }],
    // e3 sits out (one client): a partial naming its client is not folded.
    ['e3', { partial: securePartial(['e'], [1000, 1000], 9), bytes: 10 }],
  ]);
  const fake = fakePort(edgeOf, partials);
  const config = parseCoordinatorConfig({
    secureAggregation: { minGroupSize: 2, phaseTimeoutMs: 500 },
  }).secureAggregation!;
  const sent: string[] = [];
  const strategy = new SecureEdgeGroupsStrategy(
    getStrategy('fedavg').create(strategyContext()),
    fake.port,
    config,
    { send: (clientId) => void sent.push(clientId) },
    DEFAULT_UPDATE_BOUND,
  );
  const round = strategy.beginRound(
    context([member('a', 3), member('c', 2), member('e', 7), member('b', 1), member('d', 2)]),
  );
  assert.equal(fake.opened.length, 1);
  assert.deepEqual(
    fake.groups.map(([edge, g]) => [edge, g.session, g.members.map((m) => m.clientId)]),
    [
      ['e1', 'run/1@0#edge:e1', ['a', 'b']],
      ['e2', 'run/1@0#edge:e2', ['c', 'd']],
    ],
  );
  assert.deepEqual(fake.sittingOut, [
    [1, ['e'], 'secure group of edge e3 has 1 sampled client(s), fewer than minGroupSize 2'],
  ]);
  assert.equal(round.sitsOut!('e'), true);
  assert.equal(round.sitsOut!('a'), false);
  // The edge adds its group's fields: the master's round:start stays the shared one.
  assert.equal(round.startFor!('a'), undefined);
  assert.deepEqual([...round.awaited!()].sort(), ['a', 'b', 'c', 'd']);
  round.accept('a', claim(3, 'run/1@0#edge:e1'));
  round.accept('b', claim(1, 'run/1@0#edge:e1'));
  round.accept('c', claim(2, 'run/1@0#edge:e2'));
  // d reconnected through e1 mid-round: its group's keys and shares are at e2, so no claim of
  // it through e1 can be folded; once back at e2 it is.
  edgeOf.d = 'e1';
  assert.throws(
    () => round.accept('d', claim(2, 'run/1@0#edge:e2')),
    (error: ContributionError) =>
      error.code === 'not-sampled' &&
      /group runs at edge e2; this update came through edge e1/.test(error.message),
  );
  edgeOf.d = 'e2';
  round.accept('d', claim(2, 'run/1@0#edge:e2'));
  // The sitting-out client's update, a claim for another group's session, and a masked input
  // that reached the master itself are refused.
  assert.throws(
    () => round.accept('e', claim(7, 'run/1@0#edge:e3')),
    (error: ContributionError) =>
      error.code === 'not-sampled' && /minGroupSize 2/.test(error.message),
  );
  assert.throws(
    () => round.accept('a', claim(3, 'run/1@0#edge:e2')),
    (error: ContributionError) => error.code === 'wrong-phase',
  );
  assert.throws(
    () => round.accept('b', { ...claim(1, 'run/1@0#edge:e1'), masked: new Uint32Array(2) }),
    (error: ContributionError) => error.code === 'invalid-payload',
  );
  const result = await round.aggregate(quorumOf(4));
  assert.equal(result.failure, undefined);
  assert.equal(result.participants, 4);
  // (3·[1, 2] + 1·[3, 6] + 2·[0, 1] + 2·[1, 1]) / 8 = [1, 2], added to [10, 20].
  assert.deepEqual([...result.weights!], [11, 22]);
  // Three steps of phaseTimeoutMs (500 here): keys and shares may still run at the close, then unmask.
  assert.deepEqual(fake.collected, [{ waitFor: ['e1', 'e2'], extraMs: 1500 }]);
  assert.equal(fake.refused.length, 1);
  assert.match(fake.refused[0]!, /^e3: edge e3 holds no secure group in round 1/);
  assert.match(result.note ?? '', /edge e3 has 1 sampled client/);
  // No own group: the master sent no step message itself.
  assert.deepEqual(sent, []);
});

test('a partial whose weight is not its members join-time counts is refused, not folded', async () => {
  const edgeOf: Record<string, string> = { a: 'e1', b: 'e1', c: 'e2', d: 'e2' };
  const partials = new Map<string, ReceivedPartial>([
    ['e1', { partial: securePartial(['a', 'b'], [6, 12], 4), bytes: 10 }],
    // e2 claims c and d weigh 40: a forged weight would skew the mean.
    ['e2', { partial: securePartial(['c', 'd'], [40, 40], 40), bytes: 10 }],
  ]);
  const fake = fakePort(edgeOf, partials);
  const config = parseCoordinatorConfig({
    secureAggregation: { minGroupSize: 2 },
  }).secureAggregation!;
  const strategy = new SecureEdgeGroupsStrategy(
    getStrategy('fedavg').create(strategyContext()),
    fake.port,
    config,
    { send: () => undefined },
    DEFAULT_UPDATE_BOUND,
  );
  const round = strategy.beginRound(
    context([member('a', 3), member('b', 1), member('c', 2), member('d', 2)]),
  );
  for (const [id, n, edge] of [
    ['a', 3, 'e1'],
    ['b', 1, 'e1'],
    ['c', 2, 'e2'],
    ['d', 2, 'e2'],
  ] as const)
    round.accept(id, claim(n, `run/1@0#edge:${edge}`));
  const result = await round.aggregate(quorumOf(1));
  assert.equal(result.participants, 2);
  // Only e1's: [6, 12] / 4 = [1.5, 3].
  assert.deepEqual([...result.weights!], [11.5, 23]);
  assert.deepEqual(fake.refused, ["e2: weight 40 differs from its clients' sample counts (4)"]);
});

test('every group below k: the round settles at once and fails, saying why', async () => {
  const fake = fakePort({ a: 'e1', b: 'e2' }, new Map());
  const config = parseCoordinatorConfig({ secureAggregation: {} }).secureAggregation!;
  const strategy = new SecureEdgeGroupsStrategy(
    getStrategy('fedavg').create(strategyContext()),
    fake.port,
    config,
    { send: () => undefined },
    DEFAULT_UPDATE_BOUND,
  );
  const round = strategy.beginRound(context([member('a', 1), member('b', 1), member('c', 1)]));
  await round.ready;
  assert.deepEqual([...round.awaited!()], []);
  assert.equal(fake.sittingOut.length, 3);
  const result = await round.aggregate(quorumOf(1));
  assert.equal(result.participants, 0);
  assert.match(result.failure ?? '', /no secure group's sum arrived: secure group of edge e1/);
});
