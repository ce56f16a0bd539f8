/**
 * The master's end of the edges on a real redis-server, with edges played by
 * signed writers: an edge restarted under the same name (a new incarnation)
 * has its earlier connections dropped and cut and is sent the shared weights
 * again; close() ends a wait for partials; a partial's refusal tallies count
 * once, for the round collected; no edge is swept while Redis is away.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import type { ClientLink } from '../../../../server/clientHub.js';
import { MasterEdges } from '../../../../server/edges/masterEdges.js';
import type { DownMessage } from '../../../../server/edges/messages.js';
import {
  SignedReader,
  SignedWriter,
  edgeKeys,
} from '../../../../server/edges/redisControlPlane.js';
import { RunStore } from '../../../../server/store.js';
import { startRedis, type TestRedis } from '../../../support/redis.js';

const SECRET = 'a-secret-of-16-chars';
let redis: TestRedis;
let store: RunStore;

before(async () => {
  redis = await startRedis();
  store = new RunStore(':memory:');
  store.createRun({ id: 'r', startedAt: 1, config: {}, teacherHash: 'h' });
});

after(async () => {
  store?.close();
  await redis?.stop();
});

async function until(condition: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A master on its own cluster, an edge's writer, and what the edge is sent. */
async function setUp(cluster: string, options: { heartbeatTimeoutMs?: number } = {}) {
  const logs: string[] = [];
  const master = await MasterEdges.start(
    { redis: redis.url, secret: SECRET, cluster, ...options },
    { runId: 'r', store, log: (message) => void logs.push(message) },
  );
  const keys = edgeKeys(cluster);
  // Quiet while a test stops Redis: these connections retry by themselves.
  const quiet = (connection: Redis) => connection.on('error', () => undefined);
  const connection = quiet(new Redis(redis.url));
  const down: DownMessage[] = [];
  const reader = new SignedReader(
    quiet(new Redis(redis.url)),
    keys.down('e1'),
    SECRET,
    'down',
    (entry) => void down.push(entry.message as DownMessage),
    () => undefined,
  );
  const edge = (writer = new SignedWriter(connection, SECRET, 'up')) => ({
    writer,
    send: (message: unknown) => writer.send(keys.up, 'e1', message).written,
  });
  return {
    master,
    logs,
    down,
    edge,
    async close() {
      await reader.stop();
      connection.disconnect();
      await master.close();
    },
  };
}

test('an edge restarted under its name: its earlier links are dropped and cut, and it gets the shared weights again', async () => {
  const run = await setUp('restart');
  const links: ClientLink[] = [];
  const gone: ClientLink[] = [];
  run.master.hub.onConnection((link) => {
    links.push(link);
    link.onDisconnect(() => gone.push(link));
    link.on('join', (_payload, ack) => {
      link.clientId = `client-${links.length}`;
      (ack as (response: unknown) => void)({ ok: true });
    });
  });
  try {
    const first = run.edge();
    await first.send({ t: 'hello' });
    await first.send({ t: 'event', link: 'l0', event: 'join', payload: {}, req: 0, bytes: 1 });
    await until(() => links.length === 1 && run.master.edgeOf('client-1') === 'e1', 'the join');
    const weights = { weights: 'the round start' };
    run.master.hub.sendShared('e1', 'l0', 'round:start', weights);
    // The same --id, a new process: its link and request numbers start again.
    const second = run.edge();
    await second.send({ t: 'hello' });
    await second.send({ t: 'event', link: 'l0', event: 'join', payload: {}, req: 0, bytes: 1 });
    await until(() => links.length === 2, 'the second process’s link');
    assert.deepEqual(gone, [links[0]], 'the first process’s link is gone');
    assert.equal(run.master.edgeOf('client-1'), undefined);
    assert.equal(run.master.edgeOf('client-2'), 'e1');
    run.master.hub.sendShared('e1', 'l0', 'round:start', weights);
    await until(() => run.down.filter((m) => m.t === 'share').length === 2, 'a second share');
    assert.ok(run.down.some((m) => m.t === 'cut' && m.link === 'l0'));
    assert.ok(run.logs.some((line) => /edge e1 restarted/.test(line)));
  } finally {
    await run.close();
  }
});

test('close() ends a round’s wait for partials at once', async () => {
  const run = await setUp('close-while-collecting');
  const first = run.edge();
  await first.send({ t: 'hello' });
  await until(() => run.master.liveEdges.includes('e1'), 'the edge');
  // e1 is awaited and never answers: only the 15 s timeout would end the wait.
  const collected = run.master.collect(1, ['e1']);
  let done = false;
  void collected.then(() => (done = true));
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(done, false);
  await run.close();
  await until(() => done, 'collect to resolve after close');
  assert.equal((await collected).size, 0);
});

test('a partial’s refusal tallies count only for the round being collected, once', async () => {
  const run = await setUp('tallies');
  const first = run.edge();
  const partialOf = (roundId: number) => ({
    t: 'partial',
    roundId,
    weight: 0,
    clients: [],
    refusals: { 'invalid-payload': { count: 2, bytes: 10 } },
    bytesIn: 10,
  });
  const counted = () =>
    store.unjoinedRefusals('r').find((row) => row.code === 'edge:invalid-payload')?.count ?? 0;
  try {
    await first.send({ t: 'hello' });
    await until(() => run.master.liveEdges.includes('e1'), 'the edge');
    // No round is collecting: a stale partial's tallies are not counted.
    await first.send(partialOf(4));
    await first.send({ t: 'hello' });
    const collected = run.master.collect(5, ['e1']);
    await first.send(partialOf(5));
    assert.equal((await collected).size, 1);
    await first.send(partialOf(5));
    await first.send({ t: 'hello' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(counted(), 2);
  } finally {
    await run.close();
  }
});

// Last: it restarts the file's Redis.
test('while the master’s own Redis connection is down, no edge is swept for silence', async () => {
  const run = await setUp('outage', { heartbeatTimeoutMs: 1500 });
  const first = run.edge();
  let beating = true;
  const heartbeat = (async () => {
    while (beating) {
      void first.send({ t: 'hello' }).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  try {
    await until(() => run.master.liveEdges.includes('e1'), 'the edge');
    await redis.stop();
    // Longer than the heartbeat timeout: the master hears nothing, and it is not the edge's fault.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await redis.start();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual(
      run.logs.filter((line) => /silent/.test(line)),
      [],
    );
    assert.ok(run.master.liveEdges.includes('e1'));
  } finally {
    beating = false;
    await heartbeat;
    await run.close();
  }
});
