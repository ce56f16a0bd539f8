/**
 * An edge on its own (a real redis-server, no master): it serves the run's
 * artifacts from Redis only when their bytes hash to their name, answers the
 * clients' health probe, and cuts off a connection that keeps sending updates
 * it must refuse itself.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { io } from 'socket.io-client';
import { createSocketParser } from '../../../../shared/codec/index.js';
import { PROTOCOL_VERSION } from '../../../../shared/protocol/index.js';
import { startEdge, type RunningEdge } from '../../../../server/edges/edgeServer.js';
import { edgeKeys } from '../../../../server/edges/redisControlPlane.js';
import { startRedis, type TestRedis } from '../../../support/redis.js';

let redis: TestRedis;
let edge: RunningEdge;
let writer: Redis;

before(async () => {
  redis = await startRedis();
  writer = new Redis(redis.url);
  edge = await startEdge({
    redis: redis.url,
    secret: 'a-secret-of-16-chars',
    id: 'lone-edge',
    maxRefusals: 3,
  });
});

after(async () => {
  await edge?.close();
  writer?.disconnect();
  await redis?.stop();
});

test('artifacts come from Redis, and only bytes that hash to their name are served', async () => {
  const keys = edgeKeys('default');
  const bytes = Buffer.from('proxy inputs, say');
  const hash = createHash('sha256').update(bytes).digest('hex');
  await writer.set(keys.artifact(hash), bytes);
  const served = await fetch(`${edge.url}/artifacts/${hash}`);
  assert.equal(served.status, 200);
  assert.deepEqual(Buffer.from(await served.arrayBuffer()), bytes);
  assert.equal(served.headers.get('etag'), `"${hash}"`);
  const tampered = createHash('sha256').update('other bytes').digest('hex');
  await writer.set(keys.artifact(tampered), bytes);
  assert.equal((await fetch(`${edge.url}/artifacts/${tampered}`)).status, 404);
  assert.equal((await fetch(`${edge.url}/artifacts/${'0'.repeat(64)}`)).status, 404);
  assert.equal((await fetch(`${edge.url}/healthz`)).status, 200);
});

test('a connection whose updates the edge keeps refusing is cut off past maxRefusals', async () => {
  const socket = io(edge.url, {
    transports: ['websocket'],
    parser: createSocketParser(),
    auth: { protocolVersion: PROTOCOL_VERSION },
    reconnection: false,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  const closed = new Promise<void>((resolve) => socket.once('disconnect', () => resolve()));
  const answers: unknown[] = [];
  for (let i = 0; i < 4; i++)
    answers.push(
      await socket
        .timeout(5000)
        .emitWithAck('update', { roundId: 1 })
        .catch(() => null),
    );
  await Promise.race([
    closed,
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error('the edge did not cut the connection off')), 5000),
    ),
  ]);
  assert.deepEqual(
    answers.slice(0, 3).map((a) => (a as { error?: { code?: string } }).error?.code),
    ['not-joined', 'not-joined', 'not-joined'],
  );
});
