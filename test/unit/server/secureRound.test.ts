/**
 * The coordinator's secure round (server/secureRound.ts) and the client's
 * session (client/secureSession.ts) talking to each other directly, message
 * by message, with the round's timing: the unmasked result is the
 * sample-weighted mean of the survivors' deltas to fixed-point resolution,
 * also when a client vanishes after sharing its keys (its masks are rebuilt
 * from the others' shares) and when one never sends its keys.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SecureSession } from '../../../client/secureSession.js';
import { SecureAggregationRound } from '../../../server/secureRound.js';
import { createRng } from '../../../shared/data/index.js';
import type { RoundStart, SecAggDown } from '../../../shared/protocol/index.js';
import { DEFAULT_TRAINING } from '../../../server/config.js';

const LENGTH = 1000;
const SCALE = 2 ** 20;

interface Scenario {
  samples: number[];
  /** Members (0-based) that stop answering after sending their shares. */
  dropAfterShares?: number[];
  /** Members that never send keys. */
  silent?: number[];
}

async function runRound({ samples, dropAfterShares = [], silent = [] }: Scenario) {
  const rng = createRng(7);
  const deltas = samples.map(() =>
    Float32Array.from({ length: LENGTH }, () => (rng.next() - 0.5) * 0.02),
  );
  const ids = samples.map((_, i) => `client-${i}`);
  const sessions = new Map<string, SecureSession>();
  const gone = new Set<string>();
  const errors: string[] = [];
  const deadline = Date.now() + 60_000;
  const server = new SecureAggregationRound({
    session: 'run/1@0',
    roundId: 1,
    members: ids.map((clientId, i) => ({ clientId, numSamples: samples[i]! })),
    thresholdFraction: 2 / 3,
    scale: SCALE,
    length: LENGTH,
    phaseTimeoutMs: 300,
    send: (clientId: string, message: SecAggDown) => {
      if (gone.has(clientId)) return;
      if (message.step === 'inbox' && dropAfterShares.includes(ids.indexOf(clientId))) {
        gone.add(clientId);
        return;
      }
      sessions.get(clientId)?.handle(message);
    },
  });
  const setUp = server.setUp();
  for (const [i, clientId] of ids.entries()) {
    if (silent.includes(i)) continue;
    const round: RoundStart = {
      roundId: 1,
      modelVersion: 0,
      deadline,
      config: DEFAULT_TRAINING,
      secureAggregation: server.startFor(clientId),
    };
    const session = new SecureSession({
      round: { ...round, secureAggregation: round.secureAggregation! },
      length: LENGTH,
      send: (message) => {
        if (gone.has(clientId)) return Promise.resolve({ ok: true, roundId: 1 });
        server.receive(clientId, message);
        return Promise.resolve({ ok: true, roundId: 1 });
      },
      onError: (message) => errors.push(message),
    });
    sessions.set(clientId, session);
    session.start();
  }
  await setUp;
  const masked = new Map<string, Uint32Array>();
  for (const [clientId, session] of sessions) {
    if (gone.has(clientId)) continue;
    const input = await session.mask(deltas[ids.indexOf(clientId)]!, deadline);
    masked.set(clientId, input);
    server.receiveMasked(clientId, input, 'run/1@0');
  }
  const result = await server.finish();
  assert.deepEqual(errors, []);
  return { result, deltas, ids, masked, threshold: server.threshold };
}

function weightedMean(deltas: Float32Array[], samples: number[], members: number[]): Float64Array {
  const out = new Float64Array(LENGTH);
  const total = members.reduce((sum, i) => sum + samples[i]!, 0);
  for (const i of members)
    for (let k = 0; k < LENGTH; k++) out[k]! += (samples[i]! * deltas[i]![k]!) / total;
  return out;
}

function maxDifference(a: Float32Array, b: Float64Array): number {
  let worst = 0;
  for (let k = 0; k < a.length; k++) worst = Math.max(worst, Math.abs(a[k]! - b[k]!));
  return worst;
}

test('every client stays: the result is the sample-weighted mean to fixed-point resolution', async () => {
  const samples = [100, 300, 50, 550];
  const { result, deltas, threshold } = await runRound({ samples });
  assert.equal(threshold, 3);
  assert.deepEqual(result.survivors, ['client-0', 'client-1', 'client-2', 'client-3']);
  const expected = weightedMean(deltas, samples, [0, 1, 2, 3]);
  // Each client rounds weight·delta to 1/scale: at most n/2 steps of error in the sum.
  const bound = samples.length / (2 * SCALE) + 1e-9;
  const error = maxDifference(result.meanDelta, expected);
  assert.ok(error <= bound, `error ${error} > ${bound}`);
  // Against the unweighted mean, which differs: the weights matter.
  assert.ok(
    maxDifference(result.meanDelta, weightedMean(deltas, [1, 1, 1, 1], [0, 1, 2, 3])) > 1e-4,
  );
});

test('a client that vanishes after sharing its keys is left out, and its masks are removed', async () => {
  const samples = [200, 100, 400, 300];
  const { result, deltas, masked } = await runRound({ samples, dropAfterShares: [2] });
  assert.deepEqual(result.survivors, ['client-0', 'client-1', 'client-3']);
  assert.equal(masked.size, 3);
  const expected = weightedMean(deltas, samples, [0, 1, 3]);
  // Survivors' weights sum to 0.6: the rounding error is divided by it too.
  const bound = 3 / (2 * SCALE * 0.6) + 1e-9;
  const error = maxDifference(result.meanDelta, expected);
  assert.ok(error <= bound, `error ${error} > ${bound}`);
});

test('a client that never sends its keys is not in the roster; the rest aggregate', async () => {
  const samples = [10, 10, 10];
  const { result, deltas } = await runRound({ samples, silent: [1] });
  assert.deepEqual(result.survivors, ['client-0', 'client-2']);
  const error = maxDifference(result.meanDelta, weightedMean(deltas, samples, [0, 2]));
  assert.ok(error <= 2 / (2 * SCALE * (2 / 3)) + 1e-9, `error ${error}`);
});

test('one masked input alone looks uniform on the ring, unlike the input it hides', async () => {
  const { masked, deltas, ids } = await runRound({ samples: [1, 1, 1] });
  const words = masked.get(ids[0]!)!;
  // The plain fixed-point input of a small delta sits near 0 or wraps to just under 2³²;
  // a masked one spreads over the ring: about half its words in the middle half.
  const middle = (values: ArrayLike<number>) => {
    let count = 0;
    for (let k = 0; k < values.length; k++)
      if (values[k]! >= 2 ** 30 && values[k]! < 3 * 2 ** 30) count += 1;
    return count / values.length;
  };
  const plain = Uint32Array.from(deltas[0]!, (v) => Math.round((v / 3) * SCALE) >>> 0);
  assert.equal(middle(plain), 0);
  const share = middle(words);
  assert.ok(share > 0.4 && share < 0.6, `middle-half share ${share}`);
  // And it does not correlate with the delta it carries.
  const signed = Float64Array.from(words, (w) => w | 0);
  const d = Float64Array.from(deltas[0]!);
  const corr = correlation(signed, d);
  assert.ok(Math.abs(corr) < 0.15, `correlation ${corr}`);
});

function correlation(a: Float64Array, b: Float64Array): number {
  const mean = (x: Float64Array) => x.reduce((s, v) => s + v, 0) / x.length;
  const ma = mean(a);
  const mb = mean(b);
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let k = 0; k < a.length; k++) {
    sab += (a[k]! - ma) * (b[k]! - mb);
    saa += (a[k]! - ma) ** 2;
    sbb += (b[k]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

test('fewer clients than the threshold: the round cannot be unmasked, with a clear error', async () => {
  await assert.rejects(runRound({ samples: [5, 5, 5], silent: [0, 1] }), /threshold is 2/);
});

test('complaints: only once the shares are out, by a member about other members, once each', async () => {
  const ids = ['a', 'b', 'c'];
  const sessions = new Map<string, SecureSession>();
  const server = new SecureAggregationRound({
    session: 'run/2@0',
    roundId: 2,
    members: ids.map((clientId) => ({ clientId, numSamples: 10 })),
    thresholdFraction: 2 / 3,
    scale: SCALE,
    length: 4,
    phaseTimeoutMs: 300,
    send: (clientId, message) => sessions.get(clientId)?.handle(message),
  });
  const complain = (clientId: string, about: number[]) =>
    server.receive(clientId, { step: 'complain', roundId: 2, session: 'run/2@0', about });
  assert.throws(() => complain('a', [2]), { code: 'phase' });
  const setUp = server.setUp();
  for (const clientId of ids) {
    const session = new SecureSession({
      round: {
        roundId: 2,
        modelVersion: 1,
        deadline: Date.now() + 60_000,
        config: DEFAULT_TRAINING,
        secureAggregation: server.startFor(clientId),
      },
      length: 4,
      send: (message) => {
        server.receive(clientId, message);
        return Promise.resolve({ ok: true, roundId: 2 });
      },
      onError: (message) => assert.fail(message),
    });
    sessions.set(clientId, session);
    session.start();
  }
  await setUp;
  assert.deepEqual(server.awaitedInputs(), ['a', 'b', 'c']);
  // A step of another attempt of the round (a restarted coordinator's new session) never counts.
  assert.throws(
    () => server.receive('a', { step: 'complain', roundId: 2, session: 'run/2@1', about: [2] }),
    { code: 'phase', message: /session run\/2@1/ },
  );
  assert.throws(() => server.receiveMasked('a', new Uint32Array(4), 'run/2@1'), { code: 'phase' });
  assert.throws(() => server.receiveMasked('a', new Uint32Array(4), undefined), { code: 'phase' });
  assert.throws(() => complain('a', [1]), { code: 'unknown-client' }, 'about itself');
  assert.throws(() => complain('a', [9]), { code: 'unknown-client' }, 'about a stranger');
  assert.deepEqual(complain('a', [2, 3, 2]), ['b', 'c']);
  assert.throws(() => complain('a', [2]), { code: 'duplicate' });
  // The complainer cannot mask this round: it is no longer waited for.
  assert.deepEqual(server.awaitedInputs(), ['b', 'c']);
});
