/**
 * An edge dies mid-round: a real redis-server, the master in process, two
 * `fedistill edge` processes behind a small TCP load balancer (the first edge
 * while it answers, else the second: no sticky sessions), and two `fedistill
 * join` clients. The edge holding one client is SIGKILLed the moment the
 * master grants that client's update: the round still completes by its
 * deadline with what it has, the client reconnects through the other edge,
 * and no update is counted twice.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { prepareCoordinator, type PreparedCoordinator } from '../../cli/coordinatorSetup.js';
import type { RunResult } from '../../server/coordinator.js';
import { runCli, type CliProcess } from './processes.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { SMALL_MODELS, smallTraining } from '../support/smallRun.js';

const SECRET = 'edge-secret-for-the-failover-test';
const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-edge-failover-'));
let redis: TestRedis;
let balancer: Server;
const processes: CliProcess[] = [];
let prepared: PreparedCoordinator;
let result: RunResult;
let killedAt: { roundId: number; clientId: string } | undefined;

/** Forwards each TCP connection to the first port that accepts it, in order. */
function loadBalancer(ports: () => number[]): Promise<Server> {
  const server = createServer((client: Socket) => {
    client.pause();
    const tryPort = (candidates: number[]) => {
      const [port, ...rest] = candidates;
      if (port === undefined) return client.destroy();
      const upstream = createConnection({ host: '127.0.0.1', port });
      upstream.once('error', () => tryPort(rest));
      upstream.once('connect', () => {
        upstream.removeAllListeners('error');
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.on('close', () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    tryPort(ports());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function portOf(edge: CliProcess): Promise<number> {
  for (let i = 0; i < 1200; i++) {
    const found = /^edge \S+ listening on http:\/\/127\.0\.0\.1:(\d+)$/m.exec(edge.output());
    if (found) return Number(found[1]);
    if (edge.child.exitCode !== null) throw new Error(`edge exited:\n${edge.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`edge did not start:\n${edge.output()}`);
}

before(async () => {
  redis = await startRedis();
  process.env.FEDISTILL_EDGE_SECRET = SECRET;
  const [edgeA, edgeB] = ['edge-a', 'edge-b'].map((id) => {
    const edge = runCli(['edge', '--redis', redis.url, '--id', id, '--port', '0'], 600_000);
    processes.push(edge);
    return edge;
  }) as [CliProcess, CliProcess];
  const ports = await Promise.all([portOf(edgeA), portOf(edgeB)]);
  balancer = await loadBalancer(() => ports);
  const balancerUrl = `http://127.0.0.1:${(balancer.address() as AddressInfo).port}`;
  prepared = await prepareCoordinator({
    config: {
      port: 0,
      dataDir,
      rounds: 2,
      minClients: 2,
      waitForClientsMs: 120_000,
      roundTimeoutMs: 120_000,
      quorum: 0.5,
      strategy: 'fedavg',
      training: smallTraining({ updatePrecision: 'float32' }),
    },
    backend: 'wasm',
    ...SMALL_MODELS,
    demoClients: 4,
    log: () => undefined,
    edges: { redis: redis.url, secret: SECRET, heartbeatTimeoutMs: 3000, partialTimeoutMs: 10_000 },
    onEvent: (event) => {
      if (event.type !== 'update:accepted' || killedAt) return;
      if (prepared.running.edges?.edgeOf(event.clientId) !== 'edge-a') return;
      killedAt = { roundId: event.roundId, clientId: event.clientId };
      edgeA.child.kill('SIGKILL');
    },
  });
  // One client through the balancer (edge-a while it lives), one straight at edge-b.
  for (const [i, url] of [balancerUrl, `http://127.0.0.1:${ports[1]}`].entries())
    processes.push(
      runCli([
        'join',
        '--server',
        url,
        '--data',
        `demo:${i}/4`,
        '--backend',
        'wasm',
        '--cache-dir',
        join(dataDir, `cache-${i}`),
      ]),
    );
  result = await prepared.running.coordinator.run();
});

after(async () => {
  for (const p of processes) p.kill();
  balancer?.close();
  await prepared?.running.close();
  prepared?.teacher.dispose();
  await redis?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('the round completes without the dead edge, its client rejoins through the other, nothing counts twice', () => {
  assert.ok(killedAt, 'edge-a held a client whose update was granted');
  assert.equal(result.status, 'completed');
  const updates = prepared.running.store.updates(result.runId);
  for (const round of result.rounds) {
    assert.equal(round.status, 'aggregated', `round ${round.round}`);
    const accepted = updates.filter((u) => u.round === round.round && u.status === 'accepted');
    const clients = new Set(accepted.map((u) => u.clientId));
    assert.equal(clients.size, accepted.length, `round ${round.round}: one accepted update each`);
    assert.ok(round.participants <= accepted.length, `round ${round.round}: ${round.participants}`);
  }
  // The killed edge's granted update died with it: the round aggregated the other client alone.
  const killedRound = result.rounds.find((r) => r.round === killedAt!.roundId)!;
  assert.equal(killedRound.participants, 1);
  // Afterwards the client trains through edge-b: the next round has both.
  const next = result.rounds.find((r) => r.round === killedAt!.roundId + 1);
  assert.equal(next?.participants, 2);
  assert.equal(prepared.running.edges?.edgeOf(killedAt!.clientId), 'edge-b');
});
