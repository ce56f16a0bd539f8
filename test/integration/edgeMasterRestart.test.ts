/**
 * The master restarted under edges: a real redis-server, two `fedistill edge`
 * processes, two `fedistill join` clients (one at each edge) and the master as
 * a `fedistill serve --redis --resume` process. The master is SIGKILLed once
 * round 1 is aggregated and started again on the same data directory: each
 * edge, greeted by the new master's incarnation, closes its clients'
 * connections, the clients reconnect and rejoin as themselves, and the resumed
 * run completes through the same edges, with no manual step.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { outputMatches, runCli, type CliProcess } from './processes.js';
import { joinClient, startEdgeProcess } from './edgeCluster.js';
import { freePort } from '../support/ports.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const SECRET = 'edge-secret-for-the-master-restart-test';
const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-edge-master-restart-'));
let redis: TestRedis | undefined;
const processes: CliProcess[] = [];

after(async () => {
  for (const p of processes) p.kill();
  await redis?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('a master SIGKILLed after round 1 and resumed: clients rejoin through the edges, the run completes', async (t) => {
  redis = await startRedis();
  process.env.FEDISTILL_EDGE_SECRET = SECRET;
  const edges = await Promise.all(
    ['edge-a', 'edge-b'].map((id) => startEdgeProcess(redis!.url, id)),
  );
  processes.push(...edges.map((e) => e.cli));
  const serveArgs = [
    'serve',
    '--redis',
    redis.url,
    '--port',
    String(await freePort()),
    '--data-dir',
    join(dataDir, 'master'),
    '--resume',
    '--strategy',
    'fedavg',
    '--rounds',
    '3',
    '--min-clients',
    '2',
    '--epochs',
    '1',
    '--teacher-spec',
    'mlp:32',
    '--teacher-epochs',
    '1',
    '--student',
    'mlp:16',
    '--backend',
    'wasm',
    '--round-timeout',
    '240',
  ];
  const first = runCli(serveArgs, 600_000);
  processes.push(first);
  // A join an edge forwards before the master reads its stream is never answered: clients start
  // once the master listens.
  assert.ok(await outputMatches(first, /listening on/, 600_000), first.output());
  const clients = edges.map((edge, i) =>
    joinClient({ server: edge.url, index: i, of: 2, cacheDir: join(dataDir, `cache-${i}`) }),
  );
  processes.push(...clients);
  assert.ok(
    await outputMatches(first, /round 1 \(\d+\/\d+\):/, 600_000),
    `round 1 did not aggregate:\n${first.output()}`,
  );
  first.child.kill('SIGKILL');
  await first.exited;

  const second = runCli(serveArgs, 600_000);
  processes.push(second);
  const { code, output } = await second.exited;
  assert.equal(
    code,
    0,
    `${output}\n${[...edges.map((e) => e.cli), ...clients].map((p) => p.output().slice(-3000)).join('\n---\n')}`,
  );
  assert.match(output, /resume: run \S+ after round 1/);
  for (const client of clients) {
    const exit = await client.exited;
    assert.equal(exit.code, 0, exit.output);
  }
  for (const edge of edges)
    assert.match(
      edge.cli.output(),
      /the master restarted \(incarnation \w+ → \w+\): closing 1 connection\(s\) so their clients join it again/,
    );

  const db = new Database(join(dataDir, 'master', 'fedistill.sqlite'), { readonly: true });
  try {
    const runs = db.prepare('SELECT id, status FROM runs').all() as {
      id: string;
      status: string;
    }[];
    assert.equal(runs.length, 1, 'the restart resumed the one run');
    assert.equal(runs[0]!.status, 'completed');
    const rounds = db
      .prepare(
        'SELECT round, status, participants, model_version FROM rounds WHERE run_id = ? ORDER BY round',
      )
      .all(runs[0]!.id) as {
      round: number;
      status: string;
      participants: number;
      model_version: number;
    }[];
    assert.deepEqual(
      rounds.map((r) => [r.round, r.status, r.participants, r.model_version]),
      [
        [1, 'aggregated', 2, 1],
        [2, 'aggregated', 2, 2],
        [3, 'aggregated', 2, 3],
      ],
    );
    // The two clients rejoined as themselves: no third client id, one accepted update each round.
    const clientIds = db
      .prepare('SELECT DISTINCT client_id FROM updates WHERE run_id = ? AND status = ?')
      .all(runs[0]!.id, 'accepted') as { client_id: string }[];
    assert.equal(clientIds.length, 2, JSON.stringify(clientIds));
    const perRound = db
      .prepare(
        'SELECT round, COUNT(*) AS n, COUNT(DISTINCT client_id) AS clients FROM updates WHERE run_id = ? AND status = ? GROUP BY round ORDER BY round',
      )
      .all(runs[0]!.id, 'accepted') as { round: number; n: number; clients: number }[];
    assert.deepEqual(
      perRound.map((r) => [r.round, r.n, r.clients]),
      [
        [1, 2, 2],
        [2, 2, 2],
        [3, 2, 2],
      ],
    );
    t.diagnostic(`rounds ${JSON.stringify(rounds)}`);
  } finally {
    db.close();
  }
});
