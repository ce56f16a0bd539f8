/**
 * Per-client tokens and the admin token on a running coordinator: a client's
 * token admits only that client and binds its id (another client's token, or
 * a shared one, cannot take the id over on rejoin); /api/admin/stop ends the
 * run and /api/admin/export hands out the student, only with the admin token,
 * which is never written into the run's record.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { prepareCoordinator, type PreparedCoordinator } from '../../cli/coordinatorSetup.js';
import type { JoinResponse } from '../../shared/protocol/index.js';
import { VALID_AUTH, connectSocket, disconnected } from './adversaries.js';

const SHARED = 'shared-join-token';
const ALICE = 'alice-device-token';
const BOB = 'bob-device-token';
const ADMIN = 'admin-token-0123456789';
const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-auth-'));
let prepared: PreparedCoordinator;

before(async () => {
  const tokensFile = join(dataDir, 'tokens.txt');
  writeFileSync(tokensFile, `# one line per device\nalice:${ALICE}\nbob:${BOB}\n`);
  prepared = await prepareCoordinator({
    config: {
      port: 0,
      dataDir,
      rounds: 2,
      minClients: 1,
      roundTimeoutMs: 60_000,
      tokens: [SHARED],
      tokensFile,
      adminToken: ADMIN,
    },
    backend: 'cpu',
    teacherSpec: 'mlp:16',
    teacherEpochs: 1,
    student: 'mlp:8',
    demoClients: 2,
    log: () => undefined,
  });
});

after(async () => {
  await prepared?.running.close();
  prepared?.teacher.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

const join_ = (name?: string, clientId?: string) => ({
  platform: 'node',
  backend: 'cpu',
  numSamples: 10,
  ...(name ? { name } : {}),
  ...(clientId ? { clientId } : {}),
});

async function joinAs(token: string, request: unknown) {
  const { socket, refused } = await connectSocket(prepared.running.url, VALID_AUTH(token));
  assert.ok(!refused, `token ${token} refused at the handshake`);
  const response = (await socket.timeout(10_000).emitWithAck('join', request)) as JoinResponse;
  return { socket, response };
}

function admin(path: string, init: RequestInit = {}, token = ADMIN): Promise<Response> {
  return fetch(`${prepared.running.url}/api/admin${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}` },
  });
}

test('a per-client token binds its client id; no other token can take it over', async () => {
  const alice = await joinAs(ALICE, join_('mallory'));
  assert.ok(alice.response.ok);
  const aliceId = alice.response.clientId;
  const { runId } = alice.response;
  const named = prepared.running.store.clients(runId).find((c) => c.id === aliceId);
  assert.equal(named?.name, 'alice', "the token's name is recorded, not the one asked for");

  // Bob's token, then a shared token, try to rejoin as alice: refused, and alice stays connected.
  for (const token of [BOB, SHARED]) {
    const intruder = await joinAs(token, join_(undefined, aliceId));
    assert.ok(!intruder.response.ok);
    assert.equal(intruder.response.error.code, 'unauthorized');
    assert.equal(await disconnected(intruder.socket, 5_000), 'io server disconnect');
    assert.ok(alice.socket.connected, `a ${token} rejoin as alice cut alice off`);
  }

  // Alice's token again, without an id (a restarted device): she continues as her id.
  const again = await joinAs(ALICE, join_());
  assert.ok(again.response.ok);
  assert.equal(again.response.clientId, aliceId);
  assert.equal(await disconnected(alice.socket, 5_000), 'io server disconnect');

  // A wrong token never gets past the handshake; every configured token fetches artifacts.
  const wrong = await connectSocket(prepared.running.url, VALID_AUTH('alice-device-tokeN'));
  assert.equal(wrong.refused?.code, 'unauthorized');
  for (const [token, status] of [
    [ALICE, 200],
    [SHARED, 200],
    ['nope', 401],
  ] as const) {
    const artifact: Response = await fetch(
      new URL(again.response.proxyInputs.url, prepared.running.url),
      {
        headers: { authorization: `Bearer ${token}` },
      },
    );
    await artifact.arrayBuffer();
    assert.equal(artifact.status, status, token);
  }
  again.socket.close();
});

test('admin endpoints: 401 without the token, stop ends the run, export serves the student', async () => {
  for (const token of ['', 'admin-token-0123456788', BOB]) {
    const response = await admin('/export', {}, token);
    assert.equal(response.status, 401, `token "${token}"`);
    assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer/);
  }
  assert.equal((await admin('/stop')).status, 405, 'stop takes POST');
  assert.equal((await admin('/export')).status, 404, 'no student before any round');
  assert.equal((await admin('/nothing')).status, 404);

  const { socket, response: joined } = await joinAs(BOB, join_());
  assert.ok(joined.ok);
  const roundStarted = new Promise((resolve) => socket.once('round:start', resolve));
  const run = prepared.running.coordinator.run();
  await roundStarted;
  const stop = await admin('/stop', { method: 'POST' });
  assert.equal(stop.status, 202);
  assert.equal(((await stop.json()) as { stopping: boolean }).stopping, true);
  const result = await run;
  assert.equal(result.status, 'stopped');

  const exported = await admin('/export');
  assert.equal(exported.status, 200);
  const body = (await exported.json()) as {
    runId: string;
    source: string;
    state: string;
    modelJson: string;
    files: { name: string; bytes: number; url: string }[];
  };
  assert.equal(body.runId, result.runId);
  assert.equal(body.source, 'final');
  assert.equal(body.state, 'stopped');
  assert.equal(body.modelJson, join(prepared.running.checkpoints.finalDir, 'model.json'));
  assert.deepEqual(
    body.files.map((f) => f.name),
    ['model.json', 'weights.bin'],
  );
  const weights = await admin('/export/weights.bin');
  assert.equal(weights.status, 200);
  assert.ok(
    Buffer.from(await weights.arrayBuffer()).equals(
      readFileSync(join(prepared.running.checkpoints.finalDir, 'weights.bin')),
    ),
  );
  assert.equal((await admin('/export/..%2Ffedistill.sqlite')).status, 404);
  socket.close();

  const db = new Database(prepared.running.store.path, { readonly: true });
  const configs = db.prepare('SELECT config_json FROM runs').all() as { config_json: string }[];
  db.close();
  assert.ok(configs.length > 0);
  for (const { config_json } of configs) {
    assert.ok(!config_json.includes(ADMIN), 'the admin token is not recorded');
    assert.ok(!config_json.includes(ALICE), 'client tokens are not recorded');
  }
});
