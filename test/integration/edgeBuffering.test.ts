/**
 * fedbuff over edges, end to end: a real redis-server, the master (an
 * in-process coordinator with `edges`), two `fedistill edge` processes and
 * five client processes (test/integration/recordingClient.ts): two fast and
 * one slow behind each edge but one — the third fast client talks to the
 * master directly. The slow ones hold their first update (trained from model
 * version 0) until the test lets it go: the first after aggregation 1, the
 * second after aggregation 3. Aggregations proceed without them; the first
 * slow update arrives stale and is weighted s(τ) = 1/√(1+τ) by the master,
 * which alone decides τ (from what it sent); the second is past maxStaleness
 * and refused `stale-model`. Every aggregate must equal the hand-computed
 * w + η/K·Σ s(τᵢ)·Δᵢ over the deltas the clients sent (logged by each client
 * process; the master never sees an edge client's delta) to 1e-5.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { prepareCoordinator, type PreparedCoordinator } from '../../cli/coordinatorSetup.js';
import type { CoordinatorEvent, RunResult } from '../../server/coordinator.js';
import { getFlatWeights } from '../../shared/models/index.js';
import type { UpdateResponse } from '../../shared/protocol/index.js';
import { runCli, type CliProcess } from './processes.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { SMALL_MODELS, smallTraining } from '../support/smallRun.js';

const SECRET = 'edge-secret-for-the-buffer-test';
const K = 3;
const ETA = 0.8;
const MAX_STALENESS = 2;
const ROUNDS = 6;
/** Client index → where it connects, and whether it holds its first update. */
const CLIENTS = [
  { at: 'edge-a', slow: false },
  { at: 'edge-b', slow: false },
  { at: 'master', slow: false },
  // Let go once aggregation 1 is in: trained from version 0, it arrives at τ ≥ 1.
  { at: 'edge-a', slow: true, releaseAfter: 1 },
  // Let go once aggregation 3 is in: τ ≥ 3 > maxStaleness.
  { at: 'edge-b', slow: true, releaseAfter: 3 },
] as const;
const RECORDING_CLIENT = fileURLToPath(new URL('./recordingClient.ts', import.meta.url));

interface Sent {
  client: number;
  roundId: number;
  modelVersion: number;
  delta: Float32Array;
  response: UpdateResponse;
}

interface ClientProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-edge-buffering-'));
let redis: TestRedis;
const edges: CliProcess[] = [];
const clients: ClientProcess[] = [];
let prepared: PreparedCoordinator;
let result: RunResult;
/** Global weights by model version: version 0 before aggregation 1, version k after it. */
const globals = new Map<number, Float32Array>();
let sent: Sent[] = [];

function startClient(index: number, url: string): ClientProcess {
  const { slow } = CLIENTS[index]!;
  const child = spawn(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      RECORDING_CLIENT,
      url,
      String(index),
      String(CLIENTS.length),
      String(index),
      slow ? 'slow' : 'fast',
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => (output += chunk));
  child.stderr.on('data', (chunk: string) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    }),
  );
  return { child, output: () => output, exited };
}

function updatesOf(index: number, output: string): Sent[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('update '))
    .map((line) => {
      const raw = JSON.parse(line.slice('update '.length)) as {
        roundId: number;
        modelVersion: number;
        delta: string;
        response: UpdateResponse;
      };
      const bytes = Buffer.from(raw.delta, 'base64');
      const delta = new Float32Array(
        bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      );
      return { client: index, ...raw, delta };
    });
}

async function urlOf(edge: CliProcess): Promise<string> {
  for (let i = 0; i < 1200; i++) {
    const found = /^edge \S+ listening on (http:\/\/[^\s,]+)$/m.exec(edge.output());
    if (found) return found[1]!;
    if (edge.child.exitCode !== null) throw new Error(`edge exited:\n${edge.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`edge did not start:\n${edge.output()}`);
}

before(async () => {
  await tf.setBackend('cpu');
  redis = await startRedis();
  process.env.FEDISTILL_EDGE_SECRET = SECRET;
  for (const id of ['edge-a', 'edge-b'])
    edges.push(runCli(['edge', '--redis', redis.url, '--id', id, '--port', '0'], 900_000));
  const [urlA, urlB] = await Promise.all(edges.map(urlOf));
  const events: CoordinatorEvent[] = [];
  prepared = await prepareCoordinator({
    config: {
      port: 0,
      dataDir: join(dataDir, 'master'),
      strategy: 'fedbuff',
      fedbuff: { bufferSize: K, maxStaleness: MAX_STALENESS, serverLearningRate: ETA },
      rounds: ROUNDS,
      minClients: CLIENTS.length,
      waitForClientsMs: 240_000,
      roundTimeoutMs: 400_000,
      quorum: 1,
      seed: 11,
      training: smallTraining({ updatePrecision: 'float32' }),
      // Wide enough that no delta is clipped: the sums below are of the deltas as sent.
      updateBound: { maxNorm: 1000, medianMultiple: 1000 },
    },
    backend: 'cpu',
    ...SMALL_MODELS,
    demoClients: CLIENTS.length,
    log: () => undefined,
    edges: { redis: redis.url, secret: SECRET },
    onEvent: (event) => events.push(event),
  });
  const coordinator = prepared.running.coordinator;
  const urls: Record<string, string> = {
    'edge-a': urlA!,
    'edge-b': urlB!,
    master: prepared.running.url,
  };
  CLIENTS.forEach(({ at }, i) => clients.push(startClient(i, urls[at]!)));
  coordinator.subscribe((event) => {
    if (event.type === 'round:started' && event.roundId === 1)
      globals.set(0, getFlatWeights(coordinator.studentModel));
    if (event.type !== 'round:closed' || event.record.status !== 'aggregated') return;
    globals.set(event.record.modelVersion, getFlatWeights(coordinator.studentModel));
    CLIENTS.forEach((client, i) => {
      if ('releaseAfter' in client && client.releaseAfter === event.record.round)
        clients[i]!.child.stdin!.write('go\n');
    });
  });
  result = await coordinator.run();
  const codes = await Promise.all(clients.map((c) => c.exited));
  codes.forEach((code, i) => assert.equal(code, 0, `client ${i} failed:\n${clients[i]!.output()}`));
  sent = clients.flatMap((c, i) => updatesOf(i, c.output()));
});

after(async () => {
  for (const c of clients) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  for (const e of edges) e.kill();
  await prepared?.running.close();
  prepared?.teacher.dispose();
  await redis?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('fedbuff over two edges: every aggregation takes K updates, and none waits for a slow client', () => {
  assert.equal(result.status, 'completed');
  assert.deepEqual(
    result.rounds.map((r) => [r.status, r.participants]),
    Array.from({ length: ROUNDS }, () => ['aggregated', K]),
  );
  const [slowA, slowB] = [3, 4].map((i) => sent.filter((s) => s.client === i));
  // Both slow clients trained their first update from version 0 and held it past aggregation 1.
  assert.equal(slowA![0]!.modelVersion, 0);
  assert.equal(slowB![0]!.modelVersion, 0);
  const accepted = (s: Sent) => (s.response.ok ? s.response.roundId : undefined);
  assert.ok(accepted(slowA![0]!)! >= 2, 'the first slow update went into a later buffer');
  // Aggregation 1 was made of the fast clients' updates alone, through both edges and direct.
  const first = sent.filter((s) => accepted(s) === 1).map((s) => s.client);
  assert.ok(
    first.every((c) => c < 3),
    `aggregation 1 took ${first.join(', ')}`,
  );
  for (const i of [0, 1, 2]) assert.ok(sent.some((s) => s.client === i && s.response.ok));
});

test('each aggregate is w + η/K·Σ s(τ)·Δ over the deltas sent, τ from the master’s own record', (t) => {
  let weightedAway = 0;
  let staleSeen = 0;
  for (const record of result.rounds) {
    const k = record.round;
    const buffer = sent.filter((s) => s.response.ok && s.response.roundId === k);
    assert.equal(buffer.length, K, `aggregation ${k}'s buffer`);
    const before = globals.get(k - 1)!;
    const after = globals.get(k)!;
    const expected = Float64Array.from(before);
    const unweighted = Float64Array.from(before);
    // Aggregation k folds into model version k − 1: τ = (k − 1) − the version it was sent.
    const staleness = buffer.map((s) => k - 1 - s.modelVersion);
    buffer.forEach((s, j) => {
      const weight = 1 / Math.sqrt(1 + staleness[j]!);
      for (let i = 0; i < s.delta.length; i++) {
        expected[i]! += (ETA / K) * weight * s.delta[i]!;
        unweighted[i]! += (ETA / K) * s.delta[i]!;
      }
    });
    let error = 0;
    for (let i = 0; i < after.length; i++)
      error = Math.max(error, Math.abs(after[i]! - expected[i]!));
    assert.ok(error < 1e-5, `aggregation ${k} is off the hand-computed sum by ${error}`);
    for (let i = 0; i < after.length; i++)
      weightedAway = Math.max(weightedAway, Math.abs(expected[i]! - unweighted[i]!));
    assert.equal(record.maxStaleness, Math.max(...staleness));
    assert.ok(Math.abs(record.meanStaleness! - staleness.reduce((a, b) => a + b) / K) < 1e-12);
    assert.ok(record.bytesUpPerClient > 0 && record.bytesDownPerClient > 0);
    staleSeen += staleness.filter((tau) => tau > 0).length;
    t.diagnostic(
      `aggregation ${k}: clients ${buffer.map((s) => s.client).join(', ')}, τ ${staleness.join(', ')}, |w - expected| ≤ ${error.toExponential(2)}`,
    );
  }
  assert.ok(staleSeen > 0, 'some buffered update was stale');
  // The weighting matters: unweighted, the aggregates would differ well beyond the tolerance.
  assert.ok(weightedAway > 1e-4, `staleness weighting moved the aggregates by ${weightedAway}`);
});

test('the stale update is recorded with its weight, the too-stale one refused stale-model', () => {
  const store = prepared.running.store;
  const runId = result.runId;
  const rows = store.updates(runId);
  const idOf = (index: number) =>
    /^joined (\S+)$/m.exec(clients[index]!.output())?.[1] ?? `client ${index} never joined`;
  const slowA = sent.find((s) => s.client === 3)!;
  assert.ok(slowA.response.ok, JSON.stringify(slowA.response));
  const tau = slowA.response.ok ? slowA.response.roundId - 1 : -1;
  const row = rows.find(
    (r) => r.clientId === idOf(3) && r.status === 'accepted' && r.round === tau + 1,
  )!;
  assert.match(
    row.reason ?? '',
    new RegExp(`^staleness ${tau}, weight ${(1 / Math.sqrt(1 + tau)).toPrecision(6)}`),
  );
  const slowB = sent.find((s) => s.client === 4)!;
  assert.equal(slowB.response.ok, false);
  if (!slowB.response.ok) {
    assert.equal(slowB.response.error.code, 'stale-model');
    assert.match(slowB.response.error.message, /^staleness \d+ exceeds maxStaleness 2/);
  }
  assert.ok(
    rows.some(
      (r) =>
        r.clientId === idOf(4) &&
        r.status === 'rejected' &&
        /^stale-model: staleness \d+ exceeds maxStaleness 2/.test(r.reason ?? ''),
    ),
  );
  // No edge's partial was refused in an honest run.
  assert.deepEqual(
    rows.filter((r) => r.clientId.startsWith('edge:')).map((r) => r.reason),
    [],
  );
});

test("the master takes in partials, not edge clients' deltas: at most one per edge per aggregation", (t) => {
  const traffic = prepared.running.edges!.roundTraffic();
  assert.equal(traffic.length, ROUNDS);
  const params = globals.get(0)!.length;
  for (const round of traffic) {
    assert.ok(round.partials >= 1 && round.partials <= 2, `${round.partials} partials`);
    assert.ok(round.controlBytes < params, `${round.controlBytes} control bytes`);
    t.diagnostic(
      `aggregation ${round.roundId}: ${round.partials} partial(s), ${round.partialBytes} bytes; ${round.controlBytes} control bytes in, ${round.downBytes} out (${params} parameters)`,
    );
  }
});
