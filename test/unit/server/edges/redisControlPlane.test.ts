/**
 * The signed streams on a real redis-server: a genuine entry written again
 * (replayed) is refused, and so is one copied to another cluster's stream;
 * entries of a sender that restarted (a new incarnation) are read.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import type { ReadEntry } from '../../../../server/edges/redisControlPlane.js';
import {
  SignedReader,
  SignedWriter,
  edgeKeys,
} from '../../../../server/edges/redisControlPlane.js';
import { startRedis, type TestRedis } from '../../../support/redis.js';

const SECRET = 'a-secret-of-16-chars';
let redis: TestRedis;
let raw: Redis;

before(async () => {
  redis = await startRedis();
  raw = new Redis(redis.url);
});

after(async () => {
  raw?.disconnect();
  await redis?.stop();
});

function reading(key: string) {
  const entries: ReadEntry[] = [];
  const reader = new SignedReader(
    new Redis(redis.url),
    key,
    SECRET,
    'up',
    (entry) => void entries.push(entry),
    () => undefined,
  );
  return { entries, reader };
}

async function until(condition: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > end) throw new Error('timed out waiting for entries');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('a replayed entry and an entry copied from another cluster are refused', async () => {
  const a = edgeKeys('cluster-a').up;
  const b = edgeKeys('cluster-b').up;
  const onA = reading(a);
  const onB = reading(b);
  await onA.reader.ready;
  await onB.reader.ready;
  const connection = new Redis(redis.url);
  const writer = new SignedWriter(connection, SECRET, 'up');
  await writer.send(a, 'edge-1', { t: 'hello' }).written;
  const fields = ((await raw.xrangeBuffer(a, '-', '+')) as [Buffer, Buffer[]][])[0]![1];
  await raw.xadd(a, '*', ...(fields as unknown as string[]));
  await raw.xadd(b, '*', ...(fields as unknown as string[]));
  // The sender restarts: its new incarnation's first entry is read.
  const restarted = new SignedWriter(connection, SECRET, 'up');
  await restarted.send(a, 'edge-1', { t: 'hello' }).written;
  await until(() => onA.entries.length >= 3 && onB.entries.length >= 1);
  await onA.reader.stop();
  await onB.reader.stop();
  connection.disconnect();
  assert.deepEqual(
    onA.entries.map((e) => e.refused ?? 'read'),
    ['read', `replayed: sequence 1 is not after 1 for incarnation ${writer.incarnation}`, 'read'],
  );
  assert.equal(onA.entries[2]!.incarnation, restarted.incarnation);
  assert.match(onB.entries[0]!.refused ?? 'read', /seal does not verify/);
});

test('the reader starts where the stream ends in Redis, not at this host’s clock', async () => {
  const key = edgeKeys('clock').up;
  const connection = new Redis(redis.url);
  const writer = new SignedWriter(connection, SECRET, 'up');
  await writer.send(key, 'edge-1', { t: 'hello' }).written;
  const fields = ((await raw.xrangeBuffer(key, '-', '+')) as [Buffer, Buffer[]][])[0]![1];
  await raw.del(key);
  const { entries, reader } = reading(key);
  await reader.ready;
  // Written after the reader started, by a Redis whose clock is far behind this host's.
  await raw.xadd(key, '1000-0', ...(fields as unknown as string[]));
  await until(() => entries.length >= 1);
  await reader.stop();
  connection.disconnect();
  assert.equal(entries[0]!.refused, undefined);
});

test('after Redis restarts empty, the reader reads the new stream though its ids are below the last one read', async () => {
  // Its own server: this test stops and restarts it (empty: no persistence).
  const own = await startRedis();
  const key = edgeKeys('restart').up;
  const writerConnection = new Redis(own.url, { maxRetriesPerRequest: null });
  const readerConnection = new Redis(own.url, { maxRetriesPerRequest: null });
  for (const connection of [writerConnection, readerConnection])
    connection.on('error', () => undefined);
  const writer = new SignedWriter(writerConnection, SECRET, 'up');
  // The stream's last entry before the restart has an id far above any the new server gives
  // (written by a server whose clock was ahead): the reader starts there.
  await writer.send(key, 'edge-1', { t: 'hello' }).written;
  const [id, fields] = (
    (await writerConnection.xrangeBuffer(key, '-', '+')) as [Buffer, Buffer[]][]
  )[0]!;
  await writerConnection.xdel(key, id.toString());
  await writerConnection.xadd(key, '99999999999999-0', ...(fields as unknown as string[]));
  const entries: ReadEntry[] = [];
  const reader = new SignedReader(
    readerConnection,
    key,
    SECRET,
    'up',
    (entry) => void entries.push(entry),
    () => undefined,
  );
  try {
    await reader.ready;
    await own.stop();
    await own.start();
    await writer.send(key, 'edge-1', { t: 'hello' }).written;
    await until(() => entries.length >= 1);
    assert.equal(entries[0]!.refused, undefined);
    assert.ok(
      ((await writerConnection.xrange(key, '-', '+'))[0]![0] ?? '') < '99999999999999-0',
      'the new entry has a lower id',
    );
  } finally {
    await reader.stop();
    writerConnection.disconnect();
    await own.stop();
  }
});
