/**
 * Secure aggregation through the whole round protocol (coordinator, hub,
 * FedClients on worker threads): the same seeded run with and without it
 * gives the same global model after a round, to fixed-point resolution,
 * while every update the coordinator received was masked — no delta ever
 * crossed — and a masked update alone tells nothing of the delta inside it.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { decodeWeights } from '../../shared/codec/index.js';
import type { EncodedWeights } from '../../shared/codec/index.js';
import type { RoundStart, UpdateMessage } from '../../shared/protocol/index.js';
import type { TappedMessage } from '../../sim/simHub.js';
import { runSimulation } from '../../sim/simulate.js';
import { tinyConfig } from './tinyConfig.js';

const SCALE = 2 ** 20;

interface Traffic {
  /** Global weights each round started from, by round id. */
  globals: Map<number, Float32Array>;
  updates: { clientId: string; update: UpdateMessage }[];
  secAggSteps: Set<string>;
  weights: Map<string, number>;
}

function recorder(): { traffic: Traffic; tap: (message: TappedMessage) => void } {
  const traffic: Traffic = {
    globals: new Map(),
    updates: [],
    secAggSteps: new Set(),
    weights: new Map(),
  };
  const tap = (message: TappedMessage) => {
    if (message.direction === 'down' && message.event === 'round:start') {
      const round = message.payload as RoundStart;
      if (round.weights && !traffic.globals.has(round.roundId))
        traffic.globals.set(round.roundId, decodeWeights(round.weights as EncodedWeights));
      if (round.roundId === 1 && round.secureAggregation)
        traffic.weights.set(message.clientId ?? '', round.secureAggregation.weight);
    }
    if (message.direction === 'up' && message.event === 'update')
      traffic.updates.push({
        clientId: message.clientId ?? '',
        update: message.payload as UpdateMessage,
      });
    if (message.event === 'secagg')
      traffic.secAggSteps.add(`${message.direction}:${(message.payload as { step: string }).step}`);
  };
  return { traffic, tap };
}

test('a securely aggregated round gives the plain FedAvg result, from masked updates only', async (t) => {
  const base = tinyConfig({ strategy: 'fedkd', clients: 4, rounds: 2, seeds: [5] });
  const plain = recorder();
  const secure = recorder();
  try {
    const plainRun = await runSimulation({
      config: base,
      writeOutputs: false,
      onMessage: (_s, _seed, message) => plain.tap(message),
    });
    const secureRun = await runSimulation({
      config: {
        ...base,
        secureAggregation: {
          threshold: 2 / 3,
          scale: SCALE,
          phaseTimeoutMs: 10_000,
          excludeAfterComplaints: 2,
          minGroupSize: 3,
        },
      },
      writeOutputs: false,
      onMessage: (_s, _seed, message) => secure.tap(message),
    });
    for (const run of [plainRun, secureRun])
      assert.equal(run.runs[0]!.status, 'completed', run.runs[0]!.error);

    // Round 1 starts from the same seeded student; round 2 from the aggregate of round 1.
    assert.deepEqual(secure.traffic.globals.get(1), plain.traffic.globals.get(1));
    const before = plain.traffic.globals.get(1)!;
    const plainAfter = plain.traffic.globals.get(2)!;
    const secureAfter = secure.traffic.globals.get(2)!;
    let worst = 0;
    let moved = 0;
    for (let i = 0; i < before.length; i++) {
      worst = Math.max(worst, Math.abs(secureAfter[i]! - plainAfter[i]!));
      moved = Math.max(moved, Math.abs(plainAfter[i]! - before[i]!));
    }
    // Four clients each round weight·delta to 1/scale, plus float32 rounding of the weights.
    const bound = 4 / (2 * SCALE) + 1e-6;
    t.diagnostic(
      `secure vs plain after round 1: max difference ${worst}, bound ${bound}, moved ${moved}`,
    );
    assert.ok(worst <= bound, `secure and plain round 1 differ by ${worst} (bound ${bound})`);
    assert.ok(moved > 100 * bound, `round 1 moved the model by only ${moved}`);

    // The plain run's updates carry deltas; the secure run's carry masked inputs only.
    assert.ok(plain.traffic.updates.every(({ update }) => update.delta && !update.masked));
    assert.equal(secure.traffic.updates.length, 8);
    assert.ok(secure.traffic.updates.every(({ update }) => update.masked && !update.delta));
    assert.deepEqual([...secure.traffic.secAggSteps].sort(), [
      'down:inbox',
      'down:roster',
      'down:unmask',
      'up:keys',
      'up:reveal',
      'up:shares',
    ]);

    // Client by client, round 1: the masked words spread over the whole ring, where the
    // fixed-point encoding of the same client's (plain run) delta stays near zero.
    for (const { clientId, update } of secure.traffic.updates.filter(
      (u) => u.update.roundId === 1,
    )) {
      const twin = plain.traffic.updates.find(
        (u) => u.clientId === clientId && u.update.roundId === 1,
      )!;
      const delta = decodeWeights(twin.update.delta as EncodedWeights);
      const weight = secure.traffic.weights.get(clientId)!;
      const encoded = Uint32Array.from(delta, (v) => Math.round(v * weight * SCALE) >>> 0);
      assert.ok(middleHalf(encoded) < 0.001, `${clientId}: plain encoding ${middleHalf(encoded)}`);
      const share = middleHalf(update.masked!);
      assert.ok(share > 0.45 && share < 0.55, `${clientId}: masked middle-half share ${share}`);
    }
  } finally {
    rmSync(base.cacheDir, { recursive: true, force: true });
  }
});

/** Share of words in the middle half of the ring [2³⁰, 3·2³⁰). */
function middleHalf(words: Uint32Array): number {
  let count = 0;
  for (const w of words) if (w >= 2 ** 30 && w < 3 * 2 ** 30) count += 1;
  return count / words.length;
}

test('secure aggregation with a strategy that must see each update is refused by field', () => {
  assert.throws(
    () => tinyConfig({ strategy: ['fedkd', 'feddf'], secureAggregation: {} }),
    /not feddf[\s\S]*at secureAggregation/,
  );
  assert.throws(
    () => tinyConfig({ strategy: 'fedavg', aggregator: { kind: 'median' }, secureAggregation: {} }),
    /median aggregator/,
  );
});
