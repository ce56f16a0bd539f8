/**
 * The coordinator's Prometheus metrics from a hand-written event stream, with
 * every expected value worked out by hand; /metrics behind the admin token on a
 * real HTTP server; and a real coordinator (port 0) told to serve it on its own
 * address.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ArtifactStore } from '../../../server/artifacts.js';
import { createHttpHandler } from '../../../server/httpRoutes.js';
import { CoordinatorMetrics } from '../../../server/metrics/coordinatorMetrics.js';
import type { RoundRecord } from '../../../server/store.js';
import { parsePrometheus, sampleValue } from '../../support/prometheus.js';
import { startSmallCoordinator } from '../../support/smallCoordinator.js';

function record(overrides: Partial<RoundRecord>): RoundRecord {
  return {
    runId: 'run-1',
    round: 1,
    status: 'aggregated',
    startedAt: 0,
    endedAt: 0,
    modelVersion: 1,
    sampled: 3,
    participants: 3,
    rejected: 0,
    studentAccuracy: 0.5,
    studentLoss: 1,
    teacherAccuracy: 0.9,
    agreement: 0.6,
    bytesDownPerClient: 1000,
    bytesUpPerClient: 400,
    durationMs: 1500,
    meanClientLoss: null,
    privacyEpsilon: null,
    ...overrides,
  };
}

test('counters, gauges and the duration histogram follow the events', async () => {
  const metrics = new CoordinatorMetrics({
    runId: 'run-1',
    roundsPlanned: 5,
    teacherAccuracy: 0.9,
    processMetrics: false,
  });
  const joined = (clientId: string) =>
    metrics.observe({
      type: 'client:joined',
      clientId,
      platform: 'node',
      backend: 'cpu',
      numSamples: 10,
      name: null,
      rejoin: false,
    });
  joined('a');
  joined('b');
  joined('c');
  joined('a'); // a rejoin replaces its connection: still three
  metrics.observe({ type: 'client:left', clientId: 'b' });
  for (const clientId of ['a', 'b', 'c'])
    metrics.observe({ type: 'update:accepted', roundId: 1, clientId, numSamples: 10, bytes: 1 });
  metrics.observe({
    type: 'update:rejected',
    roundId: 1,
    clientId: 'c',
    code: 'wrong-round',
    message: '',
  });
  metrics.observe({
    type: 'update:rejected',
    roundId: 1,
    clientId: 'c',
    code: 'wrong-round',
    message: '',
  });
  metrics.observe({
    type: 'update:rejected',
    roundId: 2,
    clientId: 'x',
    code: 'invalid-payload',
    message: '',
  });
  metrics.observe({ type: 'client:cut-off', clientId: null, refusals: 21 });
  metrics.observe({ type: 'coordinator:fault', where: 'dispatch', message: 'emit threw' });
  metrics.observe({ type: 'coordinator:fault', where: 'dispatch', message: 'emit threw' });
  metrics.observe({ type: 'coordinator:fault', where: 'answer', message: 'ack threw' });
  // Round 1: 3 sampled × 1000 bytes down, 3 × 400 up, 1.5 s. Round 2 failed: 2 × 1000 down, 1 × 400 up, 4 s.
  metrics.observe({ type: 'round:closed', record: record({}) });
  metrics.observe({
    type: 'round:closed',
    record: record({
      round: 2,
      status: 'failed',
      sampled: 2,
      participants: 1,
      durationMs: 4000,
      studentAccuracy: null,
      agreement: null,
    }),
  });
  const s = parsePrometheus(await metrics.render());
  assert.equal(sampleValue(s, 'fedistill_run_info', { run_id: 'run-1' }), 1);
  assert.equal(sampleValue(s, 'fedistill_rounds_planned'), 5);
  assert.equal(sampleValue(s, 'fedistill_connected_clients'), 2);
  assert.equal(sampleValue(s, 'fedistill_updates_accepted_total'), 3);
  assert.equal(sampleValue(s, 'fedistill_updates_refused_total', { reason: 'wrong-round' }), 2);
  assert.equal(sampleValue(s, 'fedistill_updates_refused_total', { reason: 'invalid-payload' }), 1);
  assert.equal(sampleValue(s, 'fedistill_client_cutoffs_total'), 1);
  assert.equal(sampleValue(s, 'fedistill_coordinator_faults_total', { where: 'dispatch' }), 2);
  assert.equal(sampleValue(s, 'fedistill_coordinator_faults_total', { where: 'answer' }), 1);
  assert.equal(sampleValue(s, 'fedistill_rounds_total', { status: 'aggregated' }), 1);
  assert.equal(sampleValue(s, 'fedistill_rounds_total', { status: 'failed' }), 1);
  assert.equal(sampleValue(s, 'fedistill_traffic_bytes_total', { direction: 'down' }), 5000);
  assert.equal(sampleValue(s, 'fedistill_traffic_bytes_total', { direction: 'up' }), 1600);
  assert.equal(sampleValue(s, 'fedistill_round_duration_seconds_count'), 2);
  assert.equal(sampleValue(s, 'fedistill_round_duration_seconds_sum'), 5.5);
  // 1.5 s falls in le=2 and above, 4 s in le=5 and above.
  assert.equal(sampleValue(s, 'fedistill_round_duration_seconds_bucket', { le: '1' }), 0);
  assert.equal(sampleValue(s, 'fedistill_round_duration_seconds_bucket', { le: '2' }), 1);
  assert.equal(sampleValue(s, 'fedistill_round_duration_seconds_bucket', { le: '5' }), 2);
  // The failed round leaves the last aggregated round's accuracy and agreement standing.
  assert.equal(sampleValue(s, 'fedistill_student_accuracy'), 0.5);
  assert.equal(sampleValue(s, 'fedistill_student_teacher_agreement'), 0.6);
  assert.equal(sampleValue(s, 'fedistill_teacher_accuracy'), 0.9);
  assert.equal(sampleValue(s, 'fedistill_model_version'), 1);
  assert.ok(!s.some((x) => x.name.startsWith('process_')), 'process metrics were turned off');
});

test('a resumed run starts its gauges at the last aggregated round', async () => {
  const metrics = new CoordinatorMetrics({
    runId: 'r',
    roundsPlanned: 4,
    teacherAccuracy: 0.8,
    processMetrics: false,
  });
  metrics.resumeFrom([
    record({ round: 1, modelVersion: 1, studentAccuracy: 0.4 }),
    record({ round: 2, modelVersion: 2, studentAccuracy: 0.7, agreement: 0.75 }),
    record({ round: 3, modelVersion: 2, status: 'failed', studentAccuracy: null }),
  ]);
  const s = parsePrometheus(await metrics.render());
  assert.equal(sampleValue(s, 'fedistill_model_version'), 2);
  assert.equal(sampleValue(s, 'fedistill_student_accuracy'), 0.7);
  assert.equal(sampleValue(s, 'fedistill_student_teacher_agreement'), 0.75);
  assert.equal(sampleValue(s, 'fedistill_rounds_total', { status: 'aggregated' }), 0);
});

/** The coordinator's HTTP routes on a real server on port 0, with or without /metrics. */
async function routesServer(
  metrics: { source: CoordinatorMetrics; token: string } | undefined,
): Promise<{ base: string; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-metrics-routes-'));
  const server = createServer(
    createHttpHandler({
      artifacts: new ArtifactStore(dir),
      tokens: [],
      status: { status: () => ({}), rounds: () => [], clients: () => [] },
      ...(metrics ? { metrics } : {}),
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('/metrics on the coordinator port needs the admin token; without one it is off', async () => {
  const adminToken = 'metrics-admin-token-0123';
  const source = new CoordinatorMetrics({
    runId: 'run-7',
    roundsPlanned: 3,
    teacherAccuracy: 0.93,
  });
  const guarded = await routesServer({ source, token: adminToken });
  const off = await routesServer(undefined);
  try {
    const url = `${guarded.base}/metrics`;
    const anonymous = await fetch(url);
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal(
      (await fetch(url, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status,
      401,
    );
    assert.equal(
      (await fetch(url, { headers: { authorization: `Bearer ${adminToken}x` } })).status,
      401,
    );
    const scraped = await fetch(url, { headers: { authorization: `Bearer ${adminToken}` } });
    assert.equal(scraped.status, 200);
    assert.match(scraped.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const samples = parsePrometheus(await scraped.text());
    assert.equal(sampleValue(samples, 'fedistill_run_info', { run_id: 'run-7' }), 1);
    assert.equal(sampleValue(samples, 'fedistill_teacher_accuracy'), 0.93);
    assert.ok(samples.some((x) => x.name === 'process_resident_memory_bytes'));
    assert.equal(
      (await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${adminToken}` } }))
        .status,
      405,
    );
    assert.equal((await fetch(`${off.base}/metrics`)).status, 404);
  } finally {
    await guarded.close();
    await off.close();
  }
});

test('with metricsPort, /metrics is served there without a token and not on the coordinator port', async () => {
  const coordinator = await startSmallCoordinator('metrics-port', {
    adminToken: 'metrics-admin-token-0123',
    metricsPort: 0,
  });
  try {
    const { metricsUrl, url } = coordinator.prepared.running;
    assert.notEqual(new URL(metricsUrl).port, new URL(url).port);
    assert.match(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const scraped = await fetch(metricsUrl);
    assert.equal(scraped.status, 200);
    assert.equal(
      sampleValue(parsePrometheus(await scraped.text()), 'fedistill_connected_clients'),
      0,
    );
    assert.equal((await fetch(new URL('/api/status', metricsUrl))).status, 404);
    assert.equal(
      (
        await fetch(`${url}/metrics`, {
          headers: { authorization: 'Bearer metrics-admin-token-0123' },
        })
      ).status,
      404,
    );
  } finally {
    await coordinator.close();
  }
});
