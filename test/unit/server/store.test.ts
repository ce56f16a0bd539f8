import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { RunStore, type RoundRecord } from '../../../server/store.js';

test('runs, rounds, clients and updates survive closing and reopening the SQLite file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-store-'));
  try {
    const path = join(dir, 'nested', 'fedistill.sqlite');
    const store = new RunStore(path);
    store.createRun({ id: 'run-1', startedAt: 1000, config: { rounds: 2 }, teacherHash: 'abc' });
    const round: RoundRecord = {
      runId: 'run-1',
      round: 1,
      status: 'aggregated',
      startedAt: 1000,
      endedAt: 2000,
      modelVersion: 1,
      sampled: 3,
      participants: 2,
      rejected: 1,
      studentAccuracy: 0.75,
      studentLoss: 0.8,
      teacherAccuracy: 0.9,
      agreement: 0.8,
      bytesDownPerClient: 400,
      bytesUpPerClient: 410,
      durationMs: 1000,
      meanClientLoss: 0.5,
      privacyEpsilon: 1.25,
    };
    store.recordRound(round);
    // An asynchronous round (fedbuff) also records the staleness of what it aggregated.
    const buffered: RoundRecord = { ...round, round: 2, meanStaleness: 1.5, maxStaleness: 3 };
    store.recordRound(buffered);
    store.upsertClient({
      id: 'c1',
      runId: 'run-1',
      name: 'n1',
      platform: 'node',
      backend: 'wasm',
      numSamples: 10,
      firstSeen: 1,
      lastSeen: 1,
    });
    store.addClientTraffic('run-1', 'c1', 400, 0, false);
    store.addClientTraffic('run-1', 'c1', 0, 410, true);
    store.recordUpdate({
      runId: 'run-1',
      round: 1,
      clientId: 'c1',
      status: 'accepted',
      reason: null,
      numSamples: 10,
      bytes: 410,
      receivedAt: 5,
    });
    store.recordUpdate({
      runId: 'run-1',
      round: 1,
      clientId: 'c2',
      status: 'rejected',
      reason: 'duplicate: again',
      numSamples: null,
      bytes: 9,
      receivedAt: 6,
    });
    store.finishRun('run-1', 'completed', { ok: true });
    store.close();

    const reopened = new RunStore(path);
    assert.deepEqual(reopened.rounds('run-1'), [round, buffered]);
    const [client] = reopened.clients('run-1');
    assert.equal(client!.bytesDown, 400);
    assert.equal(client!.bytesUp, 410);
    assert.equal(client!.roundsTaken, 1);
    assert.equal(client!.name, 'n1');
    assert.deepEqual(
      reopened.updates('run-1', 1).map((u) => [u.clientId, u.status, u.reason]),
      [
        ['c1', 'accepted', null],
        ['c2', 'rejected', 'duplicate: again'],
      ],
    );
    assert.deepEqual(reopened.getRun('run-1')?.summary, { ok: true });
    assert.equal(reopened.getRun('run-1')?.status, 'completed');
    reopened.close();

    const raw = new Database(path, { readonly: true });
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    raw.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a data directory from before the clients.name column is migrated on open', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-store-'));
  try {
    const path = join(dir, 'old.sqlite');
    const old = new Database(path);
    old.exec(`CREATE TABLE clients (id TEXT NOT NULL, run_id TEXT NOT NULL, platform TEXT NOT NULL, backend TEXT NOT NULL,
      num_samples INTEGER NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
      rounds_taken INTEGER NOT NULL DEFAULT 0, bytes_down INTEGER NOT NULL DEFAULT 0, bytes_up INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (run_id, id))`);
    old.close();
    const store = new RunStore(path);
    store.createRun({ id: 'r', startedAt: 1, config: {}, teacherHash: 'h' });
    store.upsertClient({
      id: 'c',
      runId: 'r',
      name: 'late',
      platform: 'node',
      backend: 'cpu',
      numSamples: 1,
      firstSeen: 1,
      lastSeen: 1,
    });
    assert.equal(store.clients('r')[0]!.name, 'late');
    store.close();
    const again = new RunStore(path); // a second open finds nothing left to migrate
    assert.equal(again.clients('r')[0]!.name, 'late');
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rejoin secret hashes survive reopening, are kept out of clients(), and old files gain the column', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-store-'));
  try {
    const path = join(dir, 'fedistill.sqlite');
    // A data directory written before rejoin secrets: two migrations applied.
    const store = new RunStore(path);
    store.close();
    const old = new Database(path);
    old.exec('ALTER TABLE clients DROP COLUMN rejoin_secret_hash');
    old.pragma('user_version = 2');
    old.close();

    const migrated = new RunStore(path);
    migrated.createRun({ id: 'r', startedAt: 1, config: {}, teacherHash: 'h' });
    migrated.upsertClient({
      id: 'c',
      runId: 'r',
      name: null,
      platform: 'node',
      backend: 'cpu',
      numSamples: 1,
      firstSeen: 1,
      lastSeen: 1,
    });
    assert.equal(migrated.rejoinSecretHash('r', 'c'), null, 'recorded without a secret');
    assert.equal(migrated.rejoinSecretHash('r', 'nobody'), undefined, 'no such client');
    const hash = Buffer.alloc(32, 7);
    migrated.setRejoinSecretHash('r', 'c', hash);
    migrated.close();

    const reopened = new RunStore(path);
    assert.deepEqual(reopened.rejoinSecretHash('r', 'c'), hash);
    assert.ok(
      !Object.keys(reopened.clients('r')[0]!).some((key) => /secret/i.test(key)),
      'the JSON API never sees the hash',
    );
    reopened.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a round's downloads are added for every sampled client at once; unknown ids change nothing", () => {
  const store = new RunStore(':memory:');
  try {
    store.createRun({ id: 'run-1', startedAt: 1000, config: {}, teacherHash: 'abc' });
    for (const id of ['a', 'b', 'c']) {
      store.upsertClient({
        id,
        runId: 'run-1',
        name: id,
        platform: 'node',
        backend: 'wasm',
        numSamples: 10,
        firstSeen: 1,
        lastSeen: 1,
      });
    }
    store.addClientTraffic('run-1', 'a', 0, 50, true);
    store.addDownloadTraffic('run-1', ['a', 'b', 'ghost'], 400);
    store.addDownloadTraffic('run-1', new Set(['a']), 100);
    const byId = new Map(store.clients('run-1').map((c) => [c.id, c]));
    assert.deepEqual(
      ['a', 'b', 'c'].map((id) => [
        byId.get(id)?.bytesDown,
        byId.get(id)?.bytesUp,
        byId.get(id)?.roundsTaken,
      ]),
      [
        [500, 50, 1],
        [400, 0, 0],
        [0, 0, 0],
      ],
    );
    assert.ok((byId.get('b')?.lastSeen ?? 0) > 1, 'a download counts as seen');
    assert.equal(byId.get('c')?.lastSeen, 1);
    assert.equal(store.clients('run-1').length, 3, 'no row for an unknown id');
  } finally {
    store.close();
  }
});
