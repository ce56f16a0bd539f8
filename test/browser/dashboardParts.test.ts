/**
 * The dashboard's server-side parts without a browser: fitted axis ranges
 * (hand-computed), the per-client telemetry read off accepted joins and
 * updates only, the run history over a real SQLite file and damaged result
 * folders, the model variants offered for download, and the event log lines.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { countLabels } from '../../client/labelCountsTransport.js';
import { saveModelAtomic } from '../../node/modelFiles.js';
import type { ClientHub, ClientLink } from '../../server/clientHub.js';
import { ClientTelemetry } from '../../server/dashboard/clientTelemetry.js';
import { RunHistory } from '../../server/dashboard/history.js';
import { describeEvent } from '../../server/dashboard/hub.js';
import { modelFilePath, modelVariants } from '../../server/dashboard/modelFiles.js';
import { logAxisRange, logTicks, shareAxisRange } from '../../server/dashboard/ui/axes.js';
import { RunStore, type RoundRecord } from '../../server/store.js';
import { buildModel, mlpSpec } from '../../shared/models/index.js';

const dir = mkdtempSync(join(tmpdir(), 'fedistill-dashboard-parts-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('share axes fit the data with a margin, snapped to whole percents, within 0..1', () => {
  // span 0.17 → pad 0.017: 0.783 → 0.78, 0.987 → 0.99.
  assert.deepEqual(shareAxisRange([0.8, 0.97, null]), { min: 0.78, max: 0.99 });
  // A tiny span still gets a percentage point each side; 1 is the ceiling.
  assert.deepEqual(shareAxisRange([0.995, 0.999]), { min: 0.98, max: 1 });
  assert.deepEqual(shareAxisRange([0.004]), { min: 0, max: 0.02 });
  assert.equal(shareAxisRange([null, Number.NaN]), undefined);
});

test('log axes span the data in half decades, so one large first round does not flatten the rest', () => {
  // log10(0.3) = −0.52 → floor to −1 (0.1); log10(2.3) = 0.36 → ceil to 0.5 (√10).
  const range = logAxisRange([2.3, 0.3, 0, null])!;
  assert.ok(Math.abs(range.min - 0.1) < 1e-12, String(range.min));
  assert.ok(Math.abs(range.max - Math.sqrt(10)) < 1e-12, String(range.max));
  assert.equal(logAxisRange([0, -1]), undefined);
  assert.deepEqual(logTicks(0.1, Math.sqrt(10)), [0.1, 0.2, 0.5, 1, 2]);
  // A short span gets its ends labelled too.
  assert.deepEqual(logTicks(0.316, 1), [0.316, 0.5, 1]);
});

test('countLabels counts each sample under its class', () => {
  assert.deepEqual(countLabels({ y: Uint8Array.from([2, 0, 2, 2]), count: 4 }), [1, 0, 3]);
  assert.deepEqual(countLabels({ y: new Uint8Array(0), count: 0 }), []);
});

/** A ClientHub over hand-driven links: `deliver` plays a client message, returns the ack. */
function fakeHub() {
  let onConnection: ((link: ClientLink) => void) | undefined;
  const hub: ClientHub = {
    onConnection: (handler) => (onConnection = handler),
    broadcast: () => undefined,
  };
  function connect() {
    const handlers = new Map<string, (payload: unknown, ack: (r: unknown) => void) => void>();
    const link = {
      clientId: undefined as string | undefined,
      on: (event: string, handler: never) => void handlers.set(event, handler),
      onDisconnect: () => undefined,
      emit: () => undefined,
      disconnect: () => undefined,
    } as unknown as ClientLink;
    onConnection?.(link);
    return {
      link,
      deliver(event: string, payload: unknown): unknown {
        let answer: unknown;
        handlers.get(event)?.(payload, (response) => (answer = response));
        return answer;
      },
    };
  }
  return { hub, connect };
}

test('telemetry keeps label counts and metrics of accepted messages only, and never changes an answer', () => {
  const telemetry = new ClientTelemetry();
  const { hub, connect } = fakeHub();
  const observed = telemetry.observe(hub);
  // The "coordinator": accepts joins of numSamples > 0, and updates of round 1 only.
  observed.onConnection((link) => {
    link.on('join', ((request: { numSamples: number }, ack: (r: unknown) => void) => {
      if (request.numSamples > 0) {
        link.clientId = `c${request.numSamples}`;
        ack({ ok: true, clientId: link.clientId });
      } else ack({ ok: false, error: { code: 'invalid-payload', message: 'no' } });
    }) as never);
    link.on('update', ((update: { roundId: number }, ack: (r: unknown) => void) =>
      ack(
        update.roundId === 1
          ? { ok: true }
          : { ok: false, error: { code: 'wrong-round', message: 'no' } },
      )) as never);
  });
  const metrics = { loss: 0.5, accuracy: 0.75, trainMillis: 12, steps: 3 };
  const a = connect();
  assert.deepEqual(a.deliver('join', { numSamples: 4, labelCounts: [1, 3] }), {
    ok: true,
    clientId: 'c4',
  });
  assert.deepEqual(a.deliver('update', { roundId: 1, metrics }), { ok: true });
  assert.deepEqual(a.deliver('update', { roundId: 2, metrics }), {
    ok: false,
    error: { code: 'wrong-round', message: 'no' },
  });
  // Malformed fields are ignored, the answer still goes out.
  assert.deepEqual(a.deliver('update', { roundId: 1, metrics: { loss: 'x' } }), { ok: true });
  const refused = connect();
  refused.deliver('join', { numSamples: 0, labelCounts: [9] });
  assert.equal(a.link.clientId, 'c4', 'the wrapped link still sets and reads the client id');
  assert.deepEqual(telemetry.view('c4'), {
    labelCounts: [1, 3],
    rounds: [
      { round: 1, loss: 0.5, accuracy: 0.75, trainMillis: 12, steps: 3, validationAccuracy: null },
    ],
  });
  assert.deepEqual(telemetry.view('c0'), { labelCounts: null, rounds: [] });
});

function round(runId: string, n: number, accuracy: number): RoundRecord {
  return {
    runId,
    round: n,
    status: 'aggregated',
    startedAt: n * 1000,
    endedAt: n * 1000 + 500,
    modelVersion: n,
    sampled: 2,
    participants: 2,
    rejected: 0,
    studentAccuracy: accuracy,
    studentLoss: 1 / n,
    teacherAccuracy: 0.9,
    agreement: accuracy,
    bytesDownPerClient: 100,
    bytesUpPerClient: 50,
    durationMs: 500,
    meanClientLoss: 2 / n,
    privacyEpsilon: null,
  };
}

test('the history lists SQLite runs and simulate folders, and names folders it cannot read', () => {
  const dbPath = join(dir, 'history', 'fedistill.sqlite');
  const store = new RunStore(dbPath);
  store.createRun({
    id: 'run-old',
    startedAt: 1000,
    config: { strategy: 'fedavg' },
    teacherHash: 'h',
  });
  store.createRun({
    id: 'run-new',
    startedAt: 2000,
    config: { strategy: 'fedkd' },
    teacherHash: 'h',
  });
  store.recordRound(round('run-new', 1, 0.6));
  store.recordRound(round('run-new', 2, 0.7));
  const sims = join(dir, 'sims');
  mkdirSync(join(sims, 'broken'), { recursive: true });
  writeFileSync(join(sims, 'broken', 'result.json'), '{ not json');
  mkdirSync(join(sims, 'foreign'), { recursive: true });
  writeFileSync(join(sims, 'foreign', 'result.json'), '{"runs": 3}');
  const history = new RunHistory({
    databasePath: dbPath,
    simulationDirs: [sims, join(dir, 'none')],
  });
  try {
    const list = history.list();
    assert.deepEqual(
      list.entries.map((e) => [e.key, e.strategy, e.rounds, e.finalAccuracy]),
      [
        ['run:run-new', 'fedkd', 2, 0.7],
        ['run:run-old', 'fedavg', 0, null],
      ],
    );
    assert.equal(list.problems.length, 2, list.problems.join('\n'));
    assert.ok(
      list.problems.some((p) => p.includes('broken')) &&
        list.problems.some((p) => p.includes('foreign')),
    );
    assert.deepEqual(
      history.rounds('run:run-new')!.map((r) => [r.round, r.studentAccuracy, r.bytesUpPerClient]),
      [
        [1, 0.6, 50],
        [2, 0.7, 50],
      ],
    );
    assert.equal(history.rounds('run:nope'), undefined);
    assert.equal(history.rounds('sim:nowhere:fedkd:1'), undefined);
  } finally {
    history.close();
    store.close();
  }
});

test('model variants are the complete student* exports, and only their files resolve', async () => {
  const runDir = join(dir, 'run');
  const model = buildModel(mlpSpec(4, [3], 2), 1);
  await saveModelAtomic(model, join(runDir, 'student'));
  model.dispose();
  // A variant whose shard is missing, and a folder that is not a student export.
  mkdirSync(join(runDir, 'student-int8'), { recursive: true });
  writeFileSync(
    join(runDir, 'student-int8', 'model.json'),
    JSON.stringify({ weightsManifest: [{ paths: ['gone.bin'], weights: [{ dtype: 'float32' }] }] }),
  );
  mkdirSync(join(runDir, 'checkpoints'), { recursive: true });
  const variants = modelVariants(runDir);
  assert.deepEqual(
    variants.map((v) => [v.name, v.files.map((f) => f.name), v.dtypes, v.quantization]),
    [['student', ['model.json', 'weights.bin'], ['float32'], null]],
  );
  // (4·3 + 3 + 3·2 + 2) float32 weights.
  assert.equal(variants[0]!.files[1]!.bytes, (4 * 3 + 3 + 3 * 2 + 2) * 4);
  assert.equal(
    modelFilePath(runDir, 'student', 'weights.bin'),
    join(runDir, 'student', 'weights.bin'),
  );
  assert.equal(modelFilePath(runDir, 'student', '../checkpoints'), undefined);
  assert.equal(modelFilePath(runDir, 'student-int8', 'gone.bin'), undefined);
  assert.deepEqual(modelVariants(join(dir, 'no-run')), []);
});

test('the event log describes coordinator events, and leaves out per-update noise', () => {
  assert.deepEqual(
    describeEvent({
      type: 'update:rejected',
      roundId: 3,
      clientId: 'abcdef123456',
      code: 'stale-model',
      message: 'old',
    }),
    { level: 'warn', text: 'round 3: update from abcdef12 refused (stale-model: old)' },
  );
  assert.equal(
    describeEvent({ type: 'update:accepted', roundId: 1, clientId: 'x', numSamples: 1, bytes: 1 }),
    undefined,
  );
  assert.equal(
    describeEvent({ type: 'run:ended', status: 'completed', roundsAggregated: 8 })?.text,
    'run completed after 8 aggregated rounds',
  );
});
