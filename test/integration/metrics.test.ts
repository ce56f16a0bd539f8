/**
 * /metrics scraped while a real run goes on (a coordinator on port 0, two
 * `fedistill join` processes, a hostile connection sending updates it was never
 * asked for), then every counter checked against what SQLite recorded.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { prepareCoordinator, type PreparedCoordinator } from '../../cli/coordinatorSetup.js';
import type { RunResult } from '../../server/coordinator.js';
import { runCli, type CliProcess } from './processes.js';
import { smallTraining } from '../support/smallRun.js';
import { parsePrometheus, sampleValue, type Sample } from '../support/prometheus.js';
import { VALID_AUTH, connectSocket } from '../reliability/adversaries.js';

const TOKEN = 'metrics-join-token';
const ADMIN = 'metrics-admin-token-0123456789';
const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-metrics-'));
let prepared: PreparedCoordinator;
let result: RunResult;
const clients: CliProcess[] = [];
/** Scrapes taken during the run: in round 1, and right after it closed. */
const during: { inRound1?: Sample[]; afterRound1?: Sample[]; anonymousStatus?: number } = {};
const hostileCodes: string[] = [];
let midRun: Promise<void> = Promise.resolve();

async function scrape(): Promise<Sample[]> {
  const response = await fetch(`${prepared.running.url}/metrics`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  assert.equal(response.status, 200);
  return parsePrometheus(await response.text());
}

/** A connection that never joins and sends two updates anyway: both refused, each with a code. */
async function hostileUpdates(url: string): Promise<void> {
  const { socket } = await connectSocket(url, VALID_AUTH(TOKEN));
  try {
    for (const payload of [{ roundId: 1 }, 'not an update']) {
      const answer = (await socket.timeout(10_000).emitWithAck('update', payload)) as {
        ok: boolean;
        error?: { code: string };
      };
      assert.equal(answer.ok, false);
      hostileCodes.push(answer.error!.code);
    }
  } finally {
    socket.close();
  }
}

before(async () => {
  prepared = await prepareCoordinator({
    config: {
      port: 0,
      dataDir,
      rounds: 2,
      minClients: 2,
      waitForClientsMs: 60_000,
      roundTimeoutMs: 240_000,
      quorum: 1,
      tokens: [TOKEN],
      adminToken: ADMIN,
      training: smallTraining(),
    },
    backend: 'wasm',
    teacherSpec: 'mlp:32',
    teacherEpochs: 1,
    student: 'mlp:16',
    demoClients: 2,
    log: () => undefined,
    onEvent: (event) => {
      if (event.type === 'round:started' && event.roundId === 1) {
        midRun = (async () => {
          during.anonymousStatus = (await fetch(`${prepared.running.url}/metrics`)).status;
          await hostileUpdates(prepared.running.url);
          during.inRound1 = await scrape();
        })();
      }
      if (event.type === 'round:closed' && event.record.round === 1) {
        const previous = midRun;
        midRun = previous.then(async () => {
          during.afterRound1 = await scrape();
        });
      }
    },
  });
  for (let i = 0; i < 2; i++) {
    clients.push(
      runCli([
        'join',
        '--server',
        prepared.running.url,
        '--data',
        `demo:${i}/2`,
        '--token',
        TOKEN,
        '--backend',
        'wasm',
        '--cache-dir',
        join(dataDir, `cache-${i}`),
      ]),
    );
  }
  result = await prepared.running.coordinator.run();
  await midRun;
  for (const exit of await Promise.all(clients.map((c) => c.exited)))
    assert.equal(exit.code, 0, `client failed:\n${exit.output}`);
});

after(async () => {
  for (const client of clients) client.kill();
  await prepared?.running.close();
  prepared?.teacher.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

test('scrapes during the run need the admin token and show the run as it goes', () => {
  assert.equal(result.status, 'completed');
  assert.equal(during.anonymousStatus, 401);
  const inRound1 = during.inRound1!;
  assert.equal(sampleValue(inRound1, 'fedistill_connected_clients'), 2);
  assert.equal(sampleValue(inRound1, 'fedistill_rounds_total', { status: 'aggregated' }), 0);
  assert.equal(hostileCodes.length, 2);
  for (const code of new Set(hostileCodes))
    assert.equal(
      sampleValue(inRound1, 'fedistill_updates_refused_total', { reason: code }),
      hostileCodes.filter((c) => c === code).length,
    );
  const afterRound1 = during.afterRound1!;
  assert.equal(sampleValue(afterRound1, 'fedistill_rounds_total', { status: 'aggregated' }), 1);
  assert.equal(sampleValue(afterRound1, 'fedistill_model_version'), 1);
  assert.equal(sampleValue(afterRound1, 'fedistill_round_duration_seconds_count'), 1);
});

test('the final counters equal what SQLite recorded', async () => {
  // The clients have exited; their sockets close on the coordinator's side a moment later.
  while (prepared.running.coordinator.status().connectedClients !== 0)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const samples = await scrape();
  const db = new Database(join(dataDir, 'fedistill.sqlite'), { readonly: true });
  try {
    const runId = result.runId;
    const byStatus = db
      .prepare('SELECT status, COUNT(*) AS n FROM rounds WHERE run_id = ? GROUP BY status')
      .all(runId) as { status: string; n: number }[];
    const count = (status: string) => byStatus.find((r) => r.status === status)?.n ?? 0;
    assert.equal(count('aggregated'), 2);
    for (const status of ['aggregated', 'failed'])
      assert.equal(sampleValue(samples, 'fedistill_rounds_total', { status }), count(status));

    const accepted = db
      .prepare("SELECT COUNT(*) AS n FROM updates WHERE run_id = ? AND status = 'accepted'")
      .get(runId) as { n: number };
    assert.equal(accepted.n, 4);
    assert.equal(sampleValue(samples, 'fedistill_updates_accepted_total'), accepted.n);

    // Refusals: joined clients' rows ('code: message') plus the unjoined connections' tallies.
    const refused = new Map<string, number>();
    for (const row of db
      .prepare("SELECT reason FROM updates WHERE run_id = ? AND status = 'rejected'")
      .all(runId) as { reason: string }[]) {
      const code = row.reason.split(':')[0]!;
      refused.set(code, (refused.get(code) ?? 0) + 1);
    }
    for (const row of db
      .prepare('SELECT code, count FROM unjoined_refusals WHERE run_id = ?')
      .all(runId) as { code: string; count: number }[])
      refused.set(row.code, (refused.get(row.code) ?? 0) + row.count);
    assert.equal(
      [...refused.values()].reduce((a, b) => a + b, 0),
      hostileCodes.length,
    );
    const exported = samples.filter((s) => s.name === 'fedistill_updates_refused_total');
    assert.deepEqual(new Map(exported.map((s) => [s.labels.reason!, s.value])), refused);

    const traffic = db
      .prepare('SELECT SUM(bytes_down) AS down, SUM(bytes_up) AS up FROM clients WHERE run_id = ?')
      .get(runId) as { down: number; up: number };
    assert.ok(traffic.down > 0 && traffic.up > 0);
    assert.equal(
      sampleValue(samples, 'fedistill_traffic_bytes_total', { direction: 'down' }),
      traffic.down,
    );
    assert.equal(
      sampleValue(samples, 'fedistill_traffic_bytes_total', { direction: 'up' }),
      traffic.up,
    );

    const rounds = db
      .prepare(
        'SELECT duration_ms, student_accuracy, teacher_accuracy, agreement, model_version FROM rounds WHERE run_id = ? ORDER BY round',
      )
      .all(runId) as {
      duration_ms: number;
      student_accuracy: number;
      teacher_accuracy: number;
      agreement: number;
      model_version: number;
    }[];
    assert.equal(sampleValue(samples, 'fedistill_round_duration_seconds_count'), rounds.length);
    const seconds = rounds.reduce((sum, r) => sum + r.duration_ms, 0) / 1000;
    assert.ok(
      Math.abs(sampleValue(samples, 'fedistill_round_duration_seconds_sum') - seconds) < 1e-9,
    );
    const last = rounds.at(-1)!;
    assert.equal(sampleValue(samples, 'fedistill_student_accuracy'), last.student_accuracy);
    assert.equal(sampleValue(samples, 'fedistill_teacher_accuracy'), last.teacher_accuracy);
    assert.equal(sampleValue(samples, 'fedistill_student_teacher_agreement'), last.agreement);
    assert.equal(sampleValue(samples, 'fedistill_model_version'), last.model_version);
    assert.equal(sampleValue(samples, 'fedistill_connected_clients'), 0);
  } finally {
    db.close();
  }
});
