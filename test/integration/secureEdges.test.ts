/**
 * Secure aggregation per edge group, end to end: a real redis-server on a
 * loopback port, the master (an in-process coordinator with `edges` and
 * secure aggregation, k = 2), two `fedistill edge` processes with two
 * `fedistill join` clients each, and a fifth client connected to the master
 * directly — the master's own group, of one, below k. Each edge runs the
 * protocol with its two clients and sends their unmasked sum; the master's
 * group sits every round out: its client is sent no round:start (it never
 * trains) and a row per round records why. The same four edge clients with
 * the same seeds then run against one plain coordinator with secure
 * aggregation: the students must agree to the fixed-point tolerance, and the
 * master must have taken in one parameter-sized partial per edge per round —
 * no client's delta or masked input.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { prepareCoordinator, type PreparedCoordinator } from '../../cli/coordinatorSetup.js';
import type { RunResult } from '../../server/coordinator.js';
import { getFlatWeights } from '../../shared/models/index.js';
import { runCli, type CliProcess } from './processes.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { SMALL_MODELS, smallTraining } from '../support/smallRun.js';

const SECRET = 'edge-secret-for-the-secure-test';
const SCALE = 2 ** 20;
const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-secure-edges-'));
let redis: TestRedis;
const processes: CliProcess[] = [];
let edgeRun: {
  result: RunResult;
  weights: Float32Array;
  prepared: PreparedCoordinator;
  satOut: CliProcess;
};
let plainRun: { result: RunResult; weights: Float32Array };

function config(dir: string, minClients: number) {
  return {
    port: 0,
    dataDir: dir,
    rounds: 2,
    minClients,
    fraction: 1,
    waitForClientsMs: 180_000,
    roundTimeoutMs: 300_000,
    quorum: 0.5,
    seed: 11,
    strategy: 'fedavg',
    training: smallTraining({ updatePrecision: 'float32' }),
    // Steps close when every member has answered; the timeout only bounds a loaded machine.
    secureAggregation: { scale: SCALE, phaseTimeoutMs: 60_000, minGroupSize: 2 },
  };
}

function client(url: string, index: number, tag: string): CliProcess {
  const cli = runCli(
    [
      'join',
      '--name',
      `${tag}-${index}`,
      '--server',
      url,
      '--data',
      `demo:${index}/5`,
      '--backend',
      'wasm',
      '--cache-dir',
      join(dataDir, `cache-${tag}-${index}`),
    ],
    900_000,
  );
  processes.push(cli);
  return cli;
}

async function urlOf(edge: CliProcess): Promise<string> {
  for (let i = 0; i < 1800; i++) {
    const found = /^edge \S+ listening on (http:\/\/[^\s,]+)$/m.exec(edge.output());
    if (found) return found[1]!;
    if (edge.child.exitCode !== null) throw new Error(`edge exited:\n${edge.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`edge did not start:\n${edge.output()}`);
}

async function allExit(clients: CliProcess[]): Promise<void> {
  for (const exit of await Promise.all(clients.map((c) => c.exited)))
    assert.equal(exit.code, 0, `client failed:\n${exit.output}`);
}

before(async () => {
  redis = await startRedis();
  process.env.FEDISTILL_EDGE_SECRET = SECRET;
  const edges = ['edge-a', 'edge-b'].map((id) => {
    const edge = runCli(['edge', '--redis', redis.url, '--id', id, '--port', '0'], 900_000);
    processes.push(edge);
    return edge;
  });
  const [a, b] = await Promise.all(edges.map(urlOf));
  const prepared = await prepareCoordinator({
    config: config(join(dataDir, 'edges'), 5),
    backend: 'wasm',
    ...SMALL_MODELS,
    demoClients: 5,
    log: () => undefined,
    edges: { redis: redis.url, secret: SECRET },
  });
  // Clients 0 and 2 at edge a, 1 and 3 at edge b, 4 at the master itself.
  const clients = [client(a!, 0, 'edge'), client(b!, 1, 'edge'), client(a!, 2, 'edge')];
  clients.push(client(b!, 3, 'edge'));
  const satOut = client(prepared.running.url, 4, 'edge');
  const result = await prepared.running.coordinator.run();
  await allExit([...clients, satOut]);
  edgeRun = {
    result,
    weights: getFlatWeights(prepared.running.coordinator.studentModel),
    prepared,
    satOut,
  };

  const plain = await prepareCoordinator({
    config: config(join(dataDir, 'plain'), 4),
    backend: 'wasm',
    ...SMALL_MODELS,
    demoClients: 5,
    log: () => undefined,
  });
  const plainClients = [0, 1, 2, 3].map((i) => client(plain.running.url, i, 'plain'));
  const plainResult = await plain.running.coordinator.run();
  await allExit(plainClients);
  plainRun = {
    result: plainResult,
    weights: getFlatWeights(plain.running.coordinator.studentModel),
  };
  await plain.running.close();
  plain.teacher.dispose();
});

after(async () => {
  for (const p of processes) p.kill();
  await edgeRun?.prepared.running.close();
  edgeRun?.prepared.teacher.dispose();
  await redis?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('secure aggregation over two edge groups gives the student one secure coordinator gives', (t) => {
  assert.equal(edgeRun.result.status, 'completed');
  assert.deepEqual(
    edgeRun.result.rounds.map((r) => [r.status, r.sampled, r.participants]),
    [
      ['aggregated', 5, 4],
      ['aggregated', 5, 4],
    ],
  );
  assert.equal(plainRun.result.status, 'completed');
  assert.deepEqual(
    plainRun.result.rounds.map((r) => [r.status, r.participants]),
    [
      ['aggregated', 4],
      ['aggregated', 4],
    ],
  );
  assert.equal(edgeRun.weights.length, plainRun.weights.length);
  let worst = 0;
  let moved = 0;
  for (let i = 0; i < edgeRun.weights.length; i++) {
    worst = Math.max(worst, Math.abs(edgeRun.weights[i]! - plainRun.weights[i]!));
    moved = Math.max(moved, Math.abs(edgeRun.weights[i]!));
  }
  // Each group rounds every client's weighted delta to 1/scale (≈ 9.5e-7) before the sum, with
  // weights of the group's samples rather than the round's: the two runs differ by a few such
  // steps per round, and round 2 trains from weights that differ by that much.
  assert.ok(worst < 1e-4, `largest difference ${worst}`);
  assert.ok(moved > 1e-2, 'the student moved');
  t.diagnostic(
    `largest |w_edges - w_single| over ${edgeRun.weights.length} weights after 2 rounds: ${worst}; accuracy ${edgeRun.result.rounds.map((r) => r.studentAccuracy).join(', ')} vs ${plainRun.result.rounds.map((r) => r.studentAccuracy).join(', ')}`,
  );
});

test("the master took in one partial per edge group per round: no client's delta or masked input", (t) => {
  const params = edgeRun.weights.length;
  const traffic = edgeRun.prepared.running.edges!.roundTraffic();
  assert.equal(traffic.length, 2);
  for (const round of traffic) {
    assert.equal(round.partials, 2);
    assert.ok(round.partialBytes >= 2 * params * 8, `${round.partialBytes} bytes`);
    assert.ok(round.partialBytes < 2 * params * 8 + 4096, `${round.partialBytes} bytes`);
    // Claims carry no masked input (4 bytes per parameter), keys and shares stay at the edges.
    assert.ok(round.controlBytes < params, `${round.controlBytes} control bytes`);
    // The round's weights go to each edge once: the edge adds each member's own secure fields.
    assert.ok(round.downBytes >= 2 * params * 4, `${round.downBytes} bytes out`);
    assert.ok(round.downBytes < 3 * params * 4, `${round.downBytes} bytes out`);
    t.diagnostic(
      `round ${round.roundId}: ${round.partialBytes} partial bytes + ${round.controlBytes} control bytes in at the master, ${round.downBytes} out (${params} parameters)`,
    );
  }
  const store = edgeRun.prepared.running.store;
  const accepted = store.updates(edgeRun.result.runId).filter((u) => u.status === 'accepted');
  assert.equal(accepted.length, 8);
});

test('the master own group of one, below k = 2, sits each round out: never trains, rows say why', () => {
  const store = edgeRun.prepared.running.store;
  const runId = edgeRun.result.runId;
  const satOutId = store.clients(runId).find((c) => c.name === 'edge-4')?.id;
  assert.ok(satOutId);
  const rows = store.updates(runId).filter((u) => u.clientId === satOutId);
  assert.deepEqual(
    rows.map((u) => [u.round, u.status, u.reason]),
    [1, 2].map((round) => [
      round,
      'rejected',
      "sat-out: secure group of the master's own clients has 1 sampled client(s), fewer than minGroupSize 2",
    ]),
  );
  for (const record of edgeRun.result.rounds)
    assert.match(record.note ?? '', /master's own clients has 1 sampled client/);
  // Sent no round:start: it trained in no round and sent no update.
  const output = edgeRun.satOut.output();
  assert.doesNotMatch(output, /round \d+: trained/, output);
  assert.doesNotMatch(output, /update (accepted|refused)/, output);
});

test('serve refuses a --min-group-size below 2, or without --secure-aggregation, saying why', async () => {
  for (const [args, why] of [
    [['--secure-aggregation', '--min-group-size', '1'], /1 is not a whole number ≥ 2/],
    [['--min-group-size', '3'], /--min-group-size needs --secure-aggregation/],
  ] as const) {
    const serve = runCli(
      ['serve', '--redis', redis.url, ...args, '--data-dir', join(dataDir, 'refused')],
      60_000,
    );
    const { code, output } = await serve.exited;
    assert.equal(code, 1, output);
    assert.match(output, why);
  }
});
