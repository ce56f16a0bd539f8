/**
 * Who may join and what happens when the connection drops: wrong protocol
 * version and wrong token are refused clearly (real client processes), and a
 * client whose connection is cut mid-round reconnects, rejoins and still
 * delivers its update for that round.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { prepareCoordinator, type PreparedCoordinator } from '../../cli/coordinatorSetup.js';
import type { CoordinatorEvent } from '../../server/coordinator.js';
import { FedClient, type FedClientEvent } from '../../client/fedClient.js';
import { SocketTransport } from '../../client/socketTransport.js';
import { RefusedError } from '../../client/transport.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/index.js';
import { demoSplit } from '../../node/demo/demoSplit.js';
import { runCli } from './processes.js';
import { SMALL_MODELS, smallTraining } from '../support/smallRun.js';

const TOKEN = 'join-rules-secret';
const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-join-rules-'));
let prepared: PreparedCoordinator;
const coordinatorEvents: CoordinatorEvent[] = [];

before(async () => {
  await tf.setBackend('cpu');
  prepared = await prepareCoordinator({
    config: {
      port: 0,
      dataDir,
      rounds: 1,
      minClients: 1,
      waitForClientsMs: 60_000,
      roundTimeoutMs: 60_000,
      tokens: [TOKEN],
      training: smallTraining(),
    },
    backend: 'cpu',
    ...SMALL_MODELS,
    log: () => undefined,
    onEvent: (event) => coordinatorEvents.push(event),
  });
});

after(async () => {
  await prepared?.running.close();
  prepared?.teacher.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

test('a client announcing another protocol version is refused with a clear message', async () => {
  const client = runCli(
    [
      'join',
      '--server',
      prepared.running.url,
      '--data',
      'demo:0/4',
      '--token',
      TOKEN,
      '--protocol-version',
      '99',
      '--backend',
      'cpu',
    ],
    120_000,
  );
  const { code, output } = await client.exited;
  assert.equal(code, 2, output);
  assert.match(
    output,
    new RegExp(
      `refused by coordinator \\(protocol-version\\): protocol version 99 is not supported; this coordinator speaks version ${PROTOCOL_VERSION}\\b`,
    ),
  );
});

test('a client with a wrong token is refused with a clear message', async () => {
  const client = runCli(
    [
      'join',
      '--server',
      prepared.running.url,
      '--data',
      'demo:0/4',
      '--token',
      'wrong',
      '--backend',
      'cpu',
    ],
    120_000,
  );
  const { code, output } = await client.exited;
  assert.equal(code, 2, output);
  assert.match(output, /refused by coordinator \(unauthorized\)/);
});

test('in process: a wrong token surfaces as RefusedError from start()', async () => {
  const client = new FedClient({
    transport: new SocketTransport({ url: prepared.running.url, token: 'nope' }),
    data: { x: new Float32Array(784), y: new Uint8Array(1), count: 1 },
    platform: 'node',
    backend: 'cpu',
  });
  await assert.rejects(
    client.start(),
    (error: unknown) => error instanceof RefusedError && error.code === 'unauthorized',
  );
  client.stop();
});

test('a client whose connection drops mid-round reconnects, rejoins and delivers that round', async () => {
  const shard = demoSplit({ clients: 4 }).shards[1]!;
  const events: FedClientEvent[] = [];
  let dropped = false;
  const client = new FedClient({
    transport: new SocketTransport({ url: prepared.running.url, token: TOKEN }),
    data: shard,
    platform: 'node',
    backend: 'cpu',
    onEvent: (event) => {
      events.push(event);
      if (event.type === 'round:start' && !dropped) {
        dropped = true;
        // Cut the transport under the client, as a network drop would (not a server-side kick).
        for (const socket of prepared.running.io.of('/').sockets.values()) socket.conn.close();
      }
    },
  });
  await client.start();
  const run = prepared.running.coordinator.run();
  const result = await run;
  await client.done;
  client.stop();
  assert.equal(result.status, 'completed');
  assert.ok(
    events.some((e) => e.type === 'disconnected'),
    'the client saw the drop',
  );
  assert.ok(
    events.some((e) => e.type === 'joined' && e.rejoin),
    'the client rejoined',
  );
  assert.ok(
    events.some((e) => e.type === 'update:accepted' && e.roundId === 1),
    'the round-1 update was accepted after the drop',
  );
  const joins = coordinatorEvents.filter((e) => e.type === 'client:joined');
  assert.equal(joins.at(-1)!.clientId, joins.at(-2)!.clientId, 'the rejoin kept the client id');
  assert.equal(result.rounds[0]!.participants, 1);
});
