/**
 * Client ids are not enough to rejoin as a client: the first join of an id
 * gets a rejoin secret, and a join naming a taken id without that secret is
 * refused, leaving the real client connected and its round its own. The
 * secret is kept (hashed) in SQLite, so a resumed coordinator still honours it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { prepareCoordinator, type PreparedCoordinator } from '../../cli/coordinatorSetup.js';
import type { CoordinatorConfigInput } from '../../server/config.js';
import { FedClient, type FedClientEvent } from '../../client/fedClient.js';
import { SocketTransport } from '../../client/socketTransport.js';
import type { JoinAccepted, JoinResponse } from '../../shared/protocol/index.js';
import { demoSplit } from '../../node/demo/demoSplit.js';
import { VALID_AUTH, connectSocket, disconnected, type RawSocket } from './adversaries.js';
import { SMALL_MODELS, smallTraining } from '../support/smallRun.js';

const SHARED = 'shared-join-token';
const dirs: string[] = [];
let prepared: PreparedCoordinator;

function start(dataDir: string, config: Partial<CoordinatorConfigInput> = {}) {
  return prepareCoordinator({
    config: {
      port: 0,
      dataDir,
      rounds: 1,
      minClients: 1,
      roundTimeoutMs: 60_000,
      tokens: [SHARED],
      training: smallTraining(),
      ...config,
    },
    backend: 'cpu',
    ...SMALL_MODELS,
    log: () => undefined,
  });
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-rejoin-'));
  dirs.push(dir);
  return dir;
}

before(async () => {
  prepared = await start(tempDir());
});

after(async () => {
  await prepared?.running.close();
  prepared?.teacher.dispose();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function joinWith(
  url: string,
  fields: { clientId?: string; rejoinSecret?: string } = {},
): Promise<{ socket: RawSocket; response: JoinResponse }> {
  const { socket, refused } = await connectSocket(url, VALID_AUTH(SHARED));
  assert.ok(!refused, `refused at the handshake: ${refused?.code}`);
  const response = (await socket.timeout(10_000).emitWithAck('join', {
    platform: 'node',
    backend: 'cpu',
    numSamples: 10,
    ...fields,
  })) as JoinResponse;
  return { socket, response };
}

function accepted(response: JoinResponse): JoinAccepted {
  assert.ok(response.ok, `join refused: ${!response.ok ? response.error.message : ''}`);
  return response;
}

test('with its secret, a new connection rejoins as the id and the older one is closed', async () => {
  const { url } = prepared.running;
  const first = await joinWith(url);
  const { clientId, rejoinSecret } = accepted(first.response);
  assert.match(rejoinSecret, /^[A-Za-z0-9_-]{43}$/);
  const second = await joinWith(url, { clientId, rejoinSecret });
  const again = accepted(second.response);
  assert.equal(again.clientId, clientId);
  assert.equal(again.rejoinSecret, rejoinSecret, 'the secret stays the same');
  assert.equal(await disconnected(first.socket, 5_000), 'io server disconnect');
  second.socket.close();
});

test("a connection naming another client's id without its secret is refused; the victim keeps its connection and round", async () => {
  const { url, io, store, coordinator } = prepared.running;
  const events: FedClientEvent[] = [];
  const victim = new FedClient({
    transport: new SocketTransport({ url, token: SHARED }),
    data: demoSplit({ clients: 4 }).shards[2]!,
    platform: 'node',
    backend: 'cpu',
    onEvent: (event) => events.push(event),
  });
  await victim.start();
  const victimId = victim.id!;
  assert.ok(victim.rejoinSecret, 'the client keeps the secret it was given');

  for (const rejoinSecret of [undefined, 'not-the-secret', `${victim.rejoinSecret}x`]) {
    const impostor = await joinWith(url, {
      clientId: victimId,
      ...(rejoinSecret !== undefined ? { rejoinSecret } : {}),
    });
    assert.ok(!impostor.response.ok, `an impostor with secret ${rejoinSecret} was accepted`);
    assert.equal(impostor.response.error.code, 'unauthorized');
    assert.match(
      impostor.response.error.message,
      /is taken: a rejoin must present the rejoinSecret/,
    );
    impostor.socket.close();
  }
  const victimSockets = [...io.of('/').sockets.values()].filter(
    (s) => s.data.clientId === victimId,
  );
  assert.equal(victimSockets.length, 1);
  assert.ok(victimSockets[0]!.connected, 'the victim is still connected');
  assert.ok(!events.some((e) => e.type === 'disconnected'), 'the victim never lost its connection');

  const result = await coordinator.run();
  assert.equal(await victim.done, 'completed');
  victim.stop();
  assert.equal(result.status, 'completed');
  assert.equal(result.rounds[0]!.participants, 1);
  const acceptedBy = store
    .updates(result.runId)
    .filter((u) => u.status === 'accepted')
    .map((u) => u.clientId);
  assert.deepEqual(acceptedBy, [victimId], "the victim's update was the one accepted");
});

test('a coordinator resumed from its data directory still demands, and honours, the secret', async () => {
  const dataDir = tempDir();
  const before = await start(dataDir);
  let identity: JoinAccepted;
  try {
    const first = await joinWith(before.running.url);
    identity = accepted(first.response);
    first.socket.close();
  } finally {
    await before.running.close();
    before.teacher.dispose();
  }
  const resumed = await start(dataDir, { resume: true });
  try {
    const { url } = resumed.running;
    assert.equal(resumed.running.coordinator.runId, identity.runId, 'the same run continues');
    const without = await joinWith(url, { clientId: identity.clientId });
    assert.ok(!without.response.ok);
    assert.equal(without.response.error.code, 'unauthorized');
    without.socket.close();
    const withSecret = await joinWith(url, {
      clientId: identity.clientId,
      rejoinSecret: identity.rejoinSecret,
    });
    assert.equal(accepted(withSecret.response).clientId, identity.clientId);
    withSecret.socket.close();
  } finally {
    await resumed.running.close();
    resumed.teacher.dispose();
  }
});
