/**
 * Edge aggregators end to end: a real redis-server on a loopback port, the
 * master (an in-process coordinator with `edges`), two `fedistill edge`
 * processes and four `fedistill join` processes, two at each edge. The same
 * clients and seeds then run against one plain coordinator: FedAvg over edges
 * must give the same student (float tolerance), the master must take in one
 * parameter-sized partial per edge per round (no client's delta), and a forged
 * or unclaimed partial is refused and recorded, never folded in.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { prepareCoordinator, type PreparedCoordinator } from '../../cli/coordinatorSetup.js';
import type { RunResult } from '../../server/coordinator.js';
import type { CoordinatorEvent } from '../../server/coordinator.js';
import { getFlatWeights } from '../../shared/models/index.js';
import { SignedWriter, edgeKeys } from '../../server/edges/redisControlPlane.js';
import { runCli, type CliProcess } from './processes.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { SMALL_MODELS, smallTraining } from '../support/smallRun.js';

const SECRET = 'edge-secret-for-the-test';
const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-edges-'));
let redis: TestRedis;
const processes: CliProcess[] = [];
let edgeRun: { result: RunResult; weights: Float32Array; prepared: PreparedCoordinator };
let plainRun: { result: RunResult; weights: Float32Array };

function config(dir: string) {
  return {
    port: 0,
    dataDir: dir,
    rounds: 2,
    minClients: 4,
    waitForClientsMs: 120_000,
    roundTimeoutMs: 240_000,
    quorum: 1,
    seed: 7,
    strategy: 'fedavg',
    training: smallTraining({ updatePrecision: 'float32' }),
  };
}

function join4(urls: readonly string[], tag: string): CliProcess[] {
  return [0, 1, 2, 3].map((i) => {
    const client = runCli([
      'join',
      '--name',
      `${tag}-${i}`,
      '--server',
      urls[i % urls.length]!,
      '--data',
      `demo:${i}/4`,
      '--backend',
      'wasm',
      '--cache-dir',
      join(dataDir, `cache-${tag}-${i}`),
    ]);
    processes.push(client);
    return client;
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
  redis = await startRedis();
  // Edges read the secret from the environment (as a deployment would, out of `ps` listings).
  process.env.FEDISTILL_EDGE_SECRET = SECRET;
  const edges = ['edge-a', 'edge-b'].map((id) => {
    const edge = runCli(['edge', '--redis', redis.url, '--id', id, '--port', '0'], 600_000);
    processes.push(edge);
    return edge;
  });
  const edgeUrls = await Promise.all(edges.map(urlOf));
  const forger = new Redis(redis.url);
  const keys = edgeKeys('default');
  const events: CoordinatorEvent[] = [];
  const prepared = await prepareCoordinator({
    config: config(join(dataDir, 'edges')),
    backend: 'wasm',
    ...SMALL_MODELS,
    demoClients: 4,
    log: () => undefined,
    edges: { redis: redis.url, secret: SECRET },
    onEvent: (event) => {
      events.push(event);
      if (event.type !== 'round:started' || event.roundId !== 2) return;
      // A partial sealed with a guessed secret, and one sealed with the right secret for a
      // client it never had accepted: neither may reach the student.
      void new SignedWriter(forger, 'not-the-edge-secret!', 'up').send(keys.up, 'edge-a', {
        t: 'partial',
        roundId: 2,
        sum: new Float64Array(3).fill(1e6),
        weight: 1,
        clients: ['x'],
        refusals: {},
        bytesIn: 0,
      });
      void new SignedWriter(forger, SECRET, 'up').send(keys.up, 'edge-forged', {
        t: 'partial',
        roundId: 1,
        sum: new Float64Array(prepared.running.coordinator.studentParams).fill(5),
        weight: 1,
        clients: ['not-a-client'],
        refusals: {},
        bytesIn: 0,
      });
    },
  });
  const clients = join4(edgeUrls, 'edge');
  const result = await prepared.running.coordinator.run();
  for (const exit of await Promise.all(clients.map((c) => c.exited)))
    assert.equal(exit.code, 0, `client failed:\n${exit.output}`);
  edgeRun = {
    result,
    weights: getFlatWeights(prepared.running.coordinator.studentModel),
    prepared,
  };
  forger.disconnect();

  const plain = await prepareCoordinator({
    config: config(join(dataDir, 'plain')),
    backend: 'wasm',
    ...SMALL_MODELS,
    demoClients: 4,
    log: () => undefined,
  });
  const plainClients = join4([plain.running.url], 'plain');
  const plainResult = await plain.running.coordinator.run();
  for (const exit of await Promise.all(plainClients.map((c) => c.exited)))
    assert.equal(exit.code, 0, `client failed:\n${exit.output}`);
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

test('FedAvg over two edges gives the student one coordinator gives with the same clients', (t) => {
  assert.equal(edgeRun.result.status, 'completed');
  assert.deepEqual(
    edgeRun.result.rounds.map((r) => [r.status, r.participants]),
    [
      ['aggregated', 4],
      ['aggregated', 4],
    ],
  );
  assert.equal(plainRun.result.status, 'completed');
  assert.equal(edgeRun.weights.length, plainRun.weights.length);
  let worst = 0;
  for (let i = 0; i < edgeRun.weights.length; i++)
    worst = Math.max(worst, Math.abs(edgeRun.weights[i]! - plainRun.weights[i]!));
  assert.ok(worst < 1e-5, `largest difference ${worst}`);
  // The student did move, the same way: each round's test accuracy is the same.
  assert.deepEqual(
    edgeRun.result.rounds.map((r) => r.studentAccuracy),
    plainRun.result.rounds.map((r) => r.studentAccuracy),
  );
  t.diagnostic(`largest |w_edges - w_plain| over ${edgeRun.weights.length} weights: ${worst}`);
});

test("the master's inbound bytes per round are one partial per edge, not one delta per client", (t) => {
  const params = edgeRun.weights.length;
  const traffic = edgeRun.prepared.running.edges!.roundTraffic();
  assert.equal(traffic.length, 2);
  for (const round of traffic) {
    assert.equal(round.partials, 2);
    // Two float64 sums of `params` values, plus a few hundred bytes of envelope and fields.
    assert.ok(round.partialBytes >= 2 * params * 8, `${round.partialBytes} bytes`);
    assert.ok(round.partialBytes < 2 * params * 8 + 4096, `${round.partialBytes} bytes`);
    // Claims, joins and heartbeats carry no parameters.
    assert.ok(round.controlBytes < params, `${round.controlBytes} control bytes`);
    // The round's weights (float32) go to each edge once, not to each of its clients.
    assert.ok(round.downBytes >= 2 * params * 4, `${round.downBytes} bytes out`);
    assert.ok(round.downBytes < 3 * params * 4, `${round.downBytes} bytes out`);
    const plain = plainRun.result.rounds.find((r) => r.round === round.roundId)!;
    t.diagnostic(
      `round ${round.roundId}: ${round.partialBytes} partial bytes + ${round.controlBytes} control bytes in at the master, ${round.downBytes} out (${params} parameters); one coordinator took ${plain.participants} × ${plain.bytesUpPerClient} bytes of updates`,
    );
  }
});

test('a forged partial and an unclaimed one are refused and recorded', () => {
  const store = edgeRun.prepared.running.store;
  const refused = store
    .updates(edgeRun.result.runId)
    .filter((u) => u.clientId.startsWith('edge:') && u.status === 'rejected');
  assert.ok(
    refused.some(
      (u) => u.clientId === 'edge:edge-a' && /seal does not verify/.test(u.reason ?? ''),
    ),
    JSON.stringify(refused),
  );
  assert.ok(
    refused.some((u) => u.clientId === 'edge:edge-forged' && /not closing/.test(u.reason ?? '')),
    JSON.stringify(refused),
  );
});

test('an edge and a master exit with status 1 and say so when Redis is unreachable at start', async () => {
  const free = await startRedis();
  await free.stop();
  for (const args of [
    ['edge', '--redis', free.url, '--port', '0'],
    ['serve', '--redis', free.url, '--data-dir', join(dataDir, 'no-redis')],
  ]) {
    const { code, output } = await runCli(args, 60_000).exited;
    assert.equal(code, 1, output);
    assert.match(output, new RegExp(`Redis at ${free.url} is unreachable`));
  }
});

test('a run whose aggregate is not a sum is refused over edges, naming why', async () => {
  const serve = runCli(
    ['serve', '--redis', redis.url, '--strategy', 'feddf', '--data-dir', join(dataDir, 'feddf')],
    60_000,
  );
  const { code, output } = await serve.exited;
  assert.equal(code, 1, output);
  assert.match(output, /strategy feddf cannot run over edges: .*edges support fedavg, fedkd/);
});
