/**
 * Every strategy on a tiny simulation (4 virtual clients on 2 worker threads,
 * 2 rounds), each showing what defines it in the messages the coordinator
 * and the clients exchange and in the RoundRecords: fedavg trains on hard
 * labels only, fedkd's global model is exactly the average of the clients'
 * deltas, feddf's is not (the server distils after averaging), fedmd and
 * dsfl move no weights, only predictions and a consensus (dsfl's sharpened),
 * local sends nothing but metrics, and central has no traffic at all.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { before, after, test } from 'node:test';
import { decodeWeights } from '../../shared/codec/index.js';
import { decodeSoftLabels } from '../../shared/softLabels/index.js';
import type { RoundStart, UpdateMessage } from '../../shared/protocol/index.js';
import { sharpen } from '../../server/strategies/index.js';
import type { SimStrategy } from '../../sim/config.js';
import type { TappedMessage } from '../../sim/simHub.js';
import { runSimulation } from '../../sim/simulate.js';
import type { SimulationResult } from '../../sim/simulate.js';
import { tinyConfig } from './tinyConfig.js';

const config = tinyConfig({
  strategy: ['local', 'fedavg', 'fedkd', 'fedmd', 'dsfl', 'feddf', 'central'],
});
const messages = new Map<SimStrategy, TappedMessage[]>();
let result: SimulationResult;

before(async () => {
  result = await runSimulation({
    config,
    writeOutputs: false,
    onMessage: (strategy, _seed, message) => {
      messages.set(strategy, [...(messages.get(strategy) ?? []), message]);
    },
  });
});

after(() => rmSync(config.cacheDir, { recursive: true, force: true }));

function run(strategy: SimStrategy) {
  const found = result.runs.find((r) => r.strategy === strategy);
  assert.ok(found, `no run of ${strategy}`);
  assert.equal(found.status, 'completed', found.error);
  assert.equal(found.rounds.length, config.rounds);
  return found;
}

function roundStarts(strategy: SimStrategy, roundId: number): RoundStart[] {
  return (messages.get(strategy) ?? [])
    .filter((m) => m.direction === 'down' && m.event === 'round:start')
    .map((m) => m.payload as RoundStart)
    .filter((r) => r.roundId === roundId);
}

function updates(strategy: SimStrategy, roundId: number): UpdateMessage[] {
  return (messages.get(strategy) ?? [])
    .filter((m) => m.direction === 'up' && m.event === 'update')
    .map((m) => m.payload as UpdateMessage)
    .filter((u) => u.roundId === roundId);
}

/** Largest |global after round 1 − (global before + sample-weighted mean delta)|. */
function distanceFromAverage(strategy: SimStrategy): number {
  const before = roundStarts(strategy, 1)[0]!.weights!;
  const afterRound = roundStarts(strategy, 2)[0]!.weights!;
  const w0 = decodeWeights(before);
  const w1 = decodeWeights(afterRound);
  const sum = new Float64Array(w0.length);
  let total = 0;
  for (const u of updates(strategy, 1)) {
    const delta = decodeWeights(u.delta!, w0.length);
    for (let i = 0; i < sum.length; i++) sum[i]! += delta[i]! * u.numSamples;
    total += u.numSamples;
  }
  let worst = 0;
  for (let i = 0; i < w0.length; i++)
    worst = Math.max(worst, Math.abs(w1[i]! - (w0[i]! + sum[i]! / total)));
  return worst;
}

test('every strategy completes its rounds with an accuracy per round', () => {
  for (const strategy of config.strategy) {
    const r = run(strategy);
    for (const m of r.rounds) {
      assert.equal(m.status, 'aggregated');
      assert.ok(
        m.studentAccuracy !== null && m.studentAccuracy > 0,
        `${strategy} round ${m.round}`,
      );
    }
  }
  assert.ok(result.teacher.accuracy > 0.5, `teacher accuracy ${result.teacher.accuracy}`);
});

test('fedkd: weights down, deltas up, the new global model is exactly their FedAvg', () => {
  const r = run('fedkd');
  const start = roundStarts('fedkd', 1);
  assert.equal(start.length, config.clients);
  assert.equal(start[0]!.config.alpha, config.training.alpha);
  const ups = updates('fedkd', 1);
  assert.equal(ups.length, config.clients);
  for (const u of ups) {
    assert.ok(u.delta, 'a weight delta');
    assert.equal(u.predictions, undefined);
  }
  assert.ok(distanceFromAverage('fedkd') < 1e-6, `off by ${distanceFromAverage('fedkd')}`);
  const params = r.studentParams;
  assert.ok(r.rounds[0]!.bytesDownPerClient > params * 4, 'float32 weights go down');
  assert.ok(r.rounds[0]!.bytesUpPerClient > params * 4, 'float32 deltas come up');
  assert.ok(r.rounds[0]!.agreement !== null);
});

test('fedavg: the same traffic as fedkd, but hard labels only (α = 1)', () => {
  run('fedavg');
  for (const s of roundStarts('fedavg', 1)) {
    assert.equal(s.config.alpha, 1);
    assert.ok(s.weights);
  }
  assert.ok(distanceFromAverage('fedavg') < 1e-6);
});

test('feddf: the coordinator changes the averaged model (ensemble distillation)', () => {
  run('feddf');
  const off = distanceFromAverage('feddf');
  assert.ok(off > 1e-3, `the global model is only ${off} from the plain average`);
});

for (const strategy of ['fedmd', 'dsfl'] as const) {
  test(`${strategy}: no weights travel either way, only predictions and a consensus`, () => {
    const r = run(strategy);
    const fedkd = run('fedkd');
    for (const round of [1, 2]) {
      const starts = roundStarts(strategy, round);
      assert.equal(starts.length, config.clients);
      for (const s of starts) {
        assert.equal(s.weights, undefined);
        assert.equal(s.predict?.indices.length, config.logitExchange.samples);
        assert.equal(s.consensus !== undefined, round > 1, 'consensus from round 2 on');
      }
      for (const u of updates(strategy, round)) {
        assert.equal(u.delta, undefined);
        assert.equal(u.predictions?.indices.length, config.logitExchange.samples);
      }
    }
    for (const m of r.rounds) {
      assert.ok(m.bytesDownPerClient < fedkd.rounds[0]!.bytesDownPerClient / 10);
      assert.ok(m.bytesUpPerClient < fedkd.rounds[0]!.bytesUpPerClient / 10);
      assert.equal(m.agreement, null, 'no global model to compare with the teacher');
    }
  });
}

test("the consensus is the clients' mean prediction (fedmd) or its DS-FL sharpening (dsfl)", () => {
  for (const strategy of ['fedmd', 'dsfl'] as const) {
    const ups = updates(strategy, 1);
    const probs = ups.map((u) => decodeSoftLabels(u.predictions!.probs));
    const mean = new Float32Array(probs[0]!.length);
    for (const p of probs) for (let i = 0; i < mean.length; i++) mean[i]! += p[i]! / probs.length;
    const expected =
      strategy === 'dsfl' ? sharpen(mean, 10, config.logitExchange.sharpenTemperature) : mean;
    const consensus = roundStarts(strategy, 2)[0]!.consensus!;
    assert.deepEqual([...consensus.indices], [...ups[0]!.predictions!.indices]);
    const got = decodeSoftLabels(consensus.probs);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - expected[i]!));
    assert.ok(worst < 2e-3, `${strategy}: consensus off by ${worst} (float16 on the wire)`);
  }
});

test('local: neither weights nor predictions travel; clients train alone', () => {
  const r = run('local');
  for (const s of [...roundStarts('local', 1), ...roundStarts('local', 2)]) {
    assert.equal(s.weights, undefined);
    assert.equal(s.predict, undefined);
    assert.equal(s.consensus, undefined);
    assert.equal(s.config.alpha, 1, 'no teacher');
  }
  for (const u of [...updates('local', 1), ...updates('local', 2)]) {
    assert.equal(u.delta, undefined);
    assert.equal(u.predictions, undefined);
  }
  for (const m of r.rounds) {
    assert.ok(m.bytesUpPerClient < 500, `${m.bytesUpPerClient} bytes up`);
    assert.ok(m.bytesDownPerClient < 500, `${m.bytesDownPerClient} bytes down`);
  }
});

test('central: no messages, no bytes; the pooled student beats clients training alone', () => {
  const r = run('central');
  assert.equal(messages.get('central'), undefined);
  assert.equal(r.artifactBytes, 0);
  for (const m of r.rounds) assert.equal(m.bytesDownPerClient + m.bytesUpPerClient, 0);
  assert.ok(r.rounds.at(-1)!.studentAccuracy! > run('local').rounds.at(-1)!.studentAccuracy!);
});

test('the summary has a row per strategy with its traffic', () => {
  assert.deepEqual(
    result.summaries.map((s) => s.strategy),
    config.strategy,
  );
  const fedmd = result.summaries.find((s) => s.strategy === 'fedmd')!;
  const fedkd = result.summaries.find((s) => s.strategy === 'fedkd')!;
  assert.ok(fedmd.bytesUpPerClientPerRound < fedkd.bytesUpPerClientPerRound / 10);
});
