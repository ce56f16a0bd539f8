/**
 * Connections that never join are closed after `joinTimeoutMs` and counted; a connection that
 * joins in time stays. A real socket.io server on port 0 with the coordinator's SocketHub and
 * parser, real socket.io-client sockets.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Server } from 'socket.io';
import { createSocketParser } from '../../shared/codec/index.js';
import { SocketHub, type CoordinatorServer } from '../../server/socketHub.js';
import { connectSocket, disconnected, type RawSocket } from './adversaries.js';

const JOIN_TIMEOUT_MS = 400;

test('sockets that do not join within joinTimeoutMs are closed and counted; joined ones stay', async () => {
  const io: CoordinatorServer = new Server({ parser: createSocketParser() });
  const timedOut: string[] = [];
  const hub = new SocketHub(io, {
    joinTimeoutMs: JOIN_TIMEOUT_MS,
    onJoinTimeout: (data) => timedOut.push(data.clientId ?? '(unjoined)'),
  });
  // A stand-in for the coordinator's join handler: a join names the connection's client.
  hub.onConnection((link) =>
    link.on('join', (_request, ack) => {
      link.clientId = `client-${Math.random()}`;
      ack({ ok: false, error: { code: 'internal', message: 'test stand-in' } });
    }),
  );
  const http = createServer();
  io.attach(http);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const sockets: RawSocket[] = [];
  try {
    const startedAt = Date.now();
    const idle = await Promise.all([0, 1, 2].map(() => connectSocket(url, {})));
    const joined = (await connectSocket(url, {})).socket;
    sockets.push(...idle.map((o) => o.socket), joined);
    await joined.emitWithAck('join', {});
    const reasons = await Promise.all(
      idle.map(({ socket }) => disconnected(socket, 20 * JOIN_TIMEOUT_MS)),
    );
    assert.deepEqual(reasons, [
      'io server disconnect',
      'io server disconnect',
      'io server disconnect',
    ]);
    // Timers never fire early: none was closed before its time.
    assert.ok(Date.now() - startedAt >= JOIN_TIMEOUT_MS, 'closed before the join timeout');
    assert.equal(hub.unjoinedClosed, 3);
    assert.deepEqual(timedOut, ['(unjoined)', '(unjoined)', '(unjoined)']);
    // The joined connection outlives the timeout by far.
    assert.equal(await disconnected(joined, 3 * JOIN_TIMEOUT_MS), 'timeout');
    assert.equal(hub.unjoinedClosed, 3);
  } finally {
    for (const socket of sockets) socket.close();
    await new Promise<void>((resolve) => io.close(() => resolve()));
  }
});
