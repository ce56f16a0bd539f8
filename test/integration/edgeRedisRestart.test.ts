/**
 * Redis restarted under edges: a real redis-server without persistence, the
 * master in process, two `fedistill edge` processes and two `fedistill join`
 * clients, one at each. Redis is stopped the moment round 1 is aggregated (so
 * round 2's start waits in the master's queue) and started again empty: the
 * master's status and every process's log say Redis is away and what waits,
 * the master puts the artifacts back (an edge started afterwards serves them
 * from Redis alone), and the run completes with every round aggregated and no
 * update counted twice. Then Redis away past its limit: the master stops its
 * run and an edge exits with status 1, each saying why.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { prepareCoordinator, type PreparedCoordinator } from '../../cli/coordinatorSetup.js';
import type { RunResult } from '../../server/coordinator.js';
import { ARTIFACT_ROUTE } from '../../server/artifacts.js';
import { edgeKeys } from '../../server/edges/redisControlPlane.js';
import type { MasterEdgesStatus } from '../../server/edges/masterEdges.js';
import type { CliProcess } from './processes.js';
import { getJson, joinClient, startEdgeProcess, waitFor, type EdgeProcess } from './edgeCluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { SMALL_MODELS, smallTraining } from '../support/smallRun.js';

const SECRET = 'edge-secret-for-the-redis-restart-test';
const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-edge-redis-restart-'));
let redis: TestRedis;
const processes: CliProcess[] = [];
const masterLog: string[] = [];
let prepared: PreparedCoordinator;
let result: RunResult;
let edges: EdgeProcess[] = [];
/** What the test saw while Redis was away and after it came back. */
let outage:
  | {
      during: MasterEdgesStatus;
      after: MasterEdgesStatus;
      hashes: string[];
      servedByFreshEdge: { hash: string; status: number; sha256: string }[];
    }
  | undefined;

const statusOf = async () =>
  ((await getJson(`${prepared.running.url}/api/status`)) as { edges: MasterEdgesStatus }).edges;

/** Stops Redis, watches the degraded state, starts Redis again empty, checks the recovery. */
async function restartRedis(): Promise<NonNullable<typeof outage>> {
  const keys = edgeKeys('default');
  const probe = new Redis(redis.url);
  const prefix = keys.artifact('');
  const hashes = (await probe.keys(`${prefix}*`)).map((key) => key.slice(prefix.length));
  probe.disconnect();
  await redis.stop();
  const during = await waitFor('the master to report Redis down', async () => {
    const status = await statusOf();
    return status.redis === 'down' ? status : undefined;
  });
  for (const edge of edges)
    await waitFor(`${edge.id} to report Redis down`, () =>
      /Redis at \S+ unreachable .*paused, waiting up to \d+ s/.test(edge.cli.output())
        ? true
        : undefined,
    );
  await redis.start();
  const back = await waitFor('the master to put the artifacts back', async () => {
    const status = await statusOf();
    return status.redis === 'up' && status.republished > 0 ? status : undefined;
  });
  // An edge that never saw the artifacts before the restart can only serve them from Redis.
  const fresh = await startEdgeProcess(redis.url, 'edge-fresh');
  processes.push(fresh.cli);
  const servedByFreshEdge = [];
  for (const hash of hashes) {
    const response = await fetch(`${fresh.url}${ARTIFACT_ROUTE}${hash}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    servedByFreshEdge.push({
      hash,
      status: response.status,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
  }
  return { during, after: back, hashes, servedByFreshEdge };
}

before(async () => {
  redis = await startRedis();
  process.env.FEDISTILL_EDGE_SECRET = SECRET;
  edges = await Promise.all(['edge-a', 'edge-b'].map((id) => startEdgeProcess(redis.url, id)));
  processes.push(...edges.map((e) => e.cli));
  let restarting: Promise<NonNullable<typeof outage>> | undefined;
  prepared = await prepareCoordinator({
    config: {
      port: 0,
      dataDir: join(dataDir, 'restart'),
      rounds: 3,
      minClients: 2,
      waitForClientsMs: 120_000,
      roundTimeoutMs: 240_000,
      quorum: 1,
      seed: 7,
      strategy: 'fedavg',
      training: smallTraining({ updatePrecision: 'float32' }),
    },
    backend: 'wasm',
    ...SMALL_MODELS,
    demoClients: 2,
    log: (message) => void masterLog.push(message),
    edges: { redis: redis.url, secret: SECRET },
    onEvent: (event) => {
      if (event.type === 'round:closed' && event.record.round === 1 && !restarting)
        restarting = restartRedis();
    },
  });
  for (const [i, edge] of edges.entries())
    processes.push(
      joinClient({ server: edge.url, index: i, of: 2, cacheDir: join(dataDir, `cache-${i}`) }),
    );
  result = await prepared.running.coordinator.run();
  assert.ok(restarting, 'round 1 closed');
  outage = await restarting;
});

after(async () => {
  for (const p of processes) p.kill();
  await prepared?.running.close();
  prepared?.teacher.dispose();
  await redis?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('while Redis is away the master reports it, naming Redis and what is paused', () => {
  assert.ok(outage);
  assert.equal(outage.during.redis, 'down');
  assert.equal(outage.during.outages, 1);
  assert.ok(outage.during.downSince !== undefined);
  assert.ok(
    masterLog.some(
      (line) =>
        line.startsWith(`edges: Redis at ${redis.url} unreachable (`) &&
        /partial sums .* paused, waiting up to 120 s for it to return$/.test(line),
    ),
    masterLog.join('\n'),
  );
  assert.ok(masterLog.some((line) => /^edges: Redis is back after \d+\.\d s$/.test(line)));
});

test('Redis back empty: the artifacts are put back, served by an edge that never held them', () => {
  assert.ok(outage);
  assert.equal(outage.after.redis, 'up');
  assert.equal(outage.after.republished, 1);
  // Proxy inputs and soft labels.
  assert.equal(outage.hashes.length, 2);
  for (const served of outage.servedByFreshEdge) {
    assert.equal(served.status, 200, served.hash);
    assert.equal(served.sha256, served.hash);
  }
  assert.ok(
    masterLog.some((line) =>
      /^edges: Redis had lost its data: 2 artifact\(s\) published again; /.test(line),
    ),
    masterLog.join('\n'),
  );
});

test('the run completes: every round aggregated, no update counted twice', () => {
  assert.equal(result.status, 'completed');
  assert.deepEqual(
    result.rounds.map((r) => [r.round, r.status, r.participants]),
    [
      [1, 'aggregated', 2],
      [2, 'aggregated', 2],
      [3, 'aggregated', 2],
    ],
  );
  const updates = prepared.running.store.updates(result.runId);
  for (const round of result.rounds) {
    const accepted = updates.filter(
      (u) => u.round === round.round && u.status === 'accepted' && !u.clientId.startsWith('edge:'),
    );
    assert.equal(accepted.length, 2, `round ${round.round}: ${JSON.stringify(accepted)}`);
    assert.equal(new Set(accepted.map((u) => u.clientId)).size, 2);
  }
  // Each edge folded its client into one partial per round.
  assert.deepEqual(
    prepared.running.edges!.roundTraffic().map((r) => [r.roundId, r.partials]),
    [
      [1, 2],
      [2, 2],
      [3, 2],
    ],
  );
});

test('Redis away past the limit: the master stops its run, an edge exits with status 1', async () => {
  const gone = await startRedis();
  const log: string[] = [];
  const edge = await startEdgeProcess(gone.url, 'edge-limit', ['--redis-outage-limit', '2']);
  processes.push(edge.cli);
  const master = await prepareCoordinator({
    config: {
      port: 0,
      dataDir: join(dataDir, 'limit'),
      rounds: 1,
      minClients: 2,
      waitForClientsMs: 600_000,
      roundTimeoutMs: 600_000,
      strategy: 'fedavg',
      training: smallTraining(),
    },
    backend: 'wasm',
    ...SMALL_MODELS,
    demoClients: 2,
    log: (message) => void log.push(message),
    edges: { redis: gone.url, secret: SECRET, outageLimitMs: 2000 },
  });
  try {
    const running = master.running.coordinator.run();
    await gone.stop();
    const ended = await running;
    assert.equal(ended.status, 'stopped');
    assert.ok(
      log.some(
        (line) =>
          line ===
          `edges: Redis at ${gone.url} unreachable for 2 s: giving up: the run stops (resume it with --resume)`,
      ),
      log.join('\n'),
    );
    const exit = await edge.cli.exited;
    assert.equal(exit.code, 1, exit.output);
    assert.match(exit.output, new RegExp(`Redis at ${gone.url} unreachable for 2 s: giving up`));
  } finally {
    await master.running.close();
    master.teacher.dispose();
    await gone.stop();
  }
});
