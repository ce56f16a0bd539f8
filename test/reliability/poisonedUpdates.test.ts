/**
 * One authenticated client sends finite but destructive deltas over a real socket (issue 12):
 * 3e38 in every coordinate (twice), 1e30 in every coordinate, one huge coordinate, and 2e38 in
 * every coordinate (fine alone, +Infinity once two are summed into the weights).
 *
 * 1. Defaults (`fedistill serve` processes, two honest `fedistill join` processes): the update
 *    bound refuses every poisoned delta with its reason, every round aggregates the honest
 *    updates, accuracy never drops beyond the guard, and after a SIGKILL `--resume` continues
 *    from the last good checkpoint to a completed run whose student is finite and good.
 * 2. The update bound loosened so the poison reaches aggregation (an in-process coordinator with
 *    FedAvgM, two honest in-process clients): the model guard fails each round whose new
 *    weights are out of bounds, the accuracy guard rolls back a collapse, and each failed round
 *    leaves the global student bit for bit as it was; the honest rounds around them aggregate.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import * as tf from '@tensorflow/tfjs';
import { encodeWeights } from '../../shared/codec/index.js';
import { evaluate } from '../../shared/training/index.js';
import { getFlatWeights } from '../../shared/models/index.js';
import type { JoinResponse, RoundStart, UpdateResponse } from '../../shared/protocol/index.js';
import { demoSplit } from '../../node/demo/demoSplit.js';
import { fileModelLoader } from '../../node/modelFiles.js';
import { SocketTransport } from '../../client/socketTransport.js';
import { outputMatches, runCli } from '../integration/processes.js';
import { freePort } from '../support/ports.js';
import { nodeClient, startSmallCoordinator } from '../support/smallCoordinator.js';
import { VALID_AUTH, connectSocket, type RawSocket } from './adversaries.js';

const TOKEN = 'poison-secret';
const METRICS = { loss: 1, accuracy: 0.5, trainMillis: 10, steps: 4 };

/** The poisoned deltas, in the order the hostile client sends them (one per round). */
const POISONS: { kind: string; delta: (n: number) => Float32Array }[] = [
  { kind: '3e38 everywhere', delta: (n) => new Float32Array(n).fill(3e38) },
  { kind: '3e38 everywhere, again', delta: (n) => new Float32Array(n).fill(3e38) },
  { kind: '1e30 everywhere', delta: (n) => new Float32Array(n).fill(1e30) },
  {
    kind: 'one huge coordinate',
    delta: (n) => {
      const d = new Float32Array(n);
      d[n >> 1] = 3e38;
      return d;
    },
  },
  { kind: '2e38 everywhere (sums past float32)', delta: (n) => new Float32Array(n).fill(2e38) },
  { kind: '2e38 everywhere, again', delta: (n) => new Float32Array(n).fill(2e38) },
];

interface Sent {
  roundId: number;
  kind: string;
  response: UpdateResponse;
}

/**
 * A hostile client on one socket: joins, and in each round it is sampled in sends the next
 * poison (claiming `numSamples`), then, when that is refused (so the round need not wait out its
 * deadline), a zero delta claiming one sample. `poisonFor` picks the poison of a round; none:
 * only the zero delta. Every answer is kept in `sent`.
 */
async function hostileClient(
  url: string,
  sent: Sent[],
  poisonFor: (roundId: number) => (typeof POISONS)[number] | undefined,
  numSamples: number,
): Promise<{ socket: RawSocket; clientId: string }> {
  const { socket, refused } = await connectSocket(url, VALID_AUTH(TOKEN));
  assert.ok(!refused, refused?.message);
  let numParams = 0;
  socket.on('round:start', (round: RoundStart) => {
    void (async () => {
      const poison = poisonFor(round.roundId);
      const send = async (kind: string, delta: Float32Array) => {
        const response = (await socket.timeout(30_000).emitWithAck('update', {
          roundId: round.roundId,
          modelVersion: round.modelVersion,
          // The zero delta claims one sample: it must not dilute the honest updates.
          numSamples: kind === 'zero' ? 1 : numSamples,
          delta: encodeWeights(delta, 'float32'),
          metrics: METRICS,
        })) as UpdateResponse;
        sent.push({ roundId: round.roundId, kind, response });
        return response;
      };
      const first = poison ? await send(poison.kind, poison.delta(numParams)) : undefined;
      if (!first?.ok) await send('zero', new Float32Array(numParams));
    })().catch(() => undefined);
  });
  const joined = (await socket.timeout(30_000).emitWithAck('join', {
    platform: 'node',
    backend: 'cpu',
    numSamples,
    name: 'hostile',
  })) as JoinResponse;
  assert.ok(joined.ok, JSON.stringify(joined));
  numParams = joined.model.numParams;
  return { socket, clientId: joined.clientId };
}

test(
  'poisoned deltas are refused by the default update bound; the run completes across a SIGKILL and --resume from a good model',
  { timeout: 600_000 },
  async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-poison-'));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const configFile = join(dataDir, 'coordinator.json');
    // The defaults, plus the optional accuracy guard (the test's bound on degradation).
    writeFileSync(configFile, JSON.stringify({ modelGuard: { maxAccuracyDrop: 0.2 } }));
    const rounds = POISONS.length;
    const serveArgs = [
      'serve',
      '--config',
      configFile,
      '--port',
      String(port),
      '--data-dir',
      dataDir,
      '--resume',
      '--rounds',
      String(rounds),
      '--min-clients',
      '3',
      '--quorum',
      '0.6',
      '--epochs',
      '1',
      '--teacher-spec',
      'mlp:32',
      '--teacher-epochs',
      '1',
      '--student',
      'mlp:16',
      '--backend',
      'cpu',
      '--round-timeout',
      '60',
      '--token',
      TOKEN,
    ];
    const sent: Sent[] = [];
    // The next poison is the first one without an answer yet: one sent into the round the
    // SIGKILL cut short is sent again after the restart.
    const nextPoison = () => POISONS[sent.filter((s) => s.kind !== 'zero').length % POISONS.length];
    const hostiles: RawSocket[] = [];
    const hostileIds: string[] = [];
    const clients = [0, 1].map((i) =>
      runCli(
        [
          'join',
          '--server',
          url,
          '--token',
          TOKEN,
          '--data',
          `demo:${i}/2`,
          '--backend',
          'cpu',
          '--cache-dir',
          join(dataDir, `cache-${i}`),
          '--connect-timeout',
          '300',
        ],
        600_000,
      ),
    );
    const joinHostile = async () => {
      const h = await hostileClient(url, sent, nextPoison, 100);
      hostiles.push(h.socket);
      hostileIds.push(h.clientId);
    };
    let lastOutput: string | undefined;
    try {
      // Life 1: up to two aggregated rounds, then SIGKILL.
      const first = runCli(serveArgs, 300_000);
      assert.ok(await outputMatches(first, /listening on/, 180_000), first.output());
      await joinHostile();
      assert.ok(await outputMatches(first, /round 2 \(2\//, 240_000), first.output());
      assert.equal(first.child.exitCode, null, 'the coordinator is still up after the poison');
      first.child.kill('SIGKILL');
      await first.exited;
      hostiles[0]!.close();

      // Life 2: --resume, the hostile comes back under a new id and goes on.
      const second = runCli(serveArgs, 400_000);
      assert.ok(await outputMatches(second, /listening on/, 180_000), second.output());
      await joinHostile();
      const { code, output } = await second.exited;
      lastOutput = output;
      assert.equal(code, 0, output);
      assert.match(output, /resume: run \S+ after round \d+/);
      for (const client of clients) assert.equal((await client.exited).code, 0, client.output());
    } finally {
      for (const socket of hostiles) socket.close();
      for (const client of clients) client.kill();
    }

    // Every poison was refused by the update bound, with its reason; no update of the hostile
    // client but its zero deltas was accepted.
    const poisons = sent.filter((s) => s.kind !== 'zero');
    assert.ok(poisons.length >= rounds, `sent ${poisons.length} poisons`);
    assert.deepEqual(
      [...new Set(poisons.map((p) => p.kind))].sort(),
      POISONS.map((p) => p.kind).sort(),
    );
    for (const p of poisons) {
      assert.ok(!p.response.ok, `${p.kind} was accepted in round ${p.roundId}`);
      assert.equal(p.response.error.code, 'rejected-weights');
      assert.match(
        p.response.error.message,
        /^update bound: coordinate \d+ is \d(\.\d+)?e\+\d+, beyond the per-coordinate bound ±10$/,
      );
    }

    const db = new Database(join(dataDir, 'fedistill.sqlite'), { readonly: true });
    const runs = db.prepare('SELECT id, status FROM runs').all() as {
      id: string;
      status: string;
    }[];
    const recorded = db
      .prepare(
        'SELECT round, status, participants, student_accuracy AS accuracy, note FROM rounds WHERE run_id = ? ORDER BY round',
      )
      .all(runs[0]!.id) as {
      round: number;
      status: string;
      participants: number;
      accuracy: number;
      note: string | null;
    }[];
    const hostileRows = db
      .prepare(
        `SELECT status, reason FROM updates WHERE client_id IN (${hostileIds.map(() => '?').join(',')})`,
      )
      .all(...hostileIds) as { status: string; reason: string | null }[];
    db.close();
    assert.equal(runs.length, 1, 'the restart resumed the run');
    assert.equal(runs[0]!.status, 'completed');
    // Every round aggregated the two honest updates and the hostile zero delta.
    assert.deepEqual(
      recorded.map((r) => [r.status, r.participants]),
      Array.from({ length: rounds }, () => ['aggregated', 3]),
      lastOutput,
    );
    for (let i = 1; i < recorded.length; i++) {
      assert.ok(
        recorded[i]!.accuracy >= recorded[i - 1]!.accuracy - 0.2,
        `round ${recorded[i]!.round}: accuracy ${recorded[i]!.accuracy} after ${recorded[i - 1]!.accuracy}`,
      );
    }
    assert.ok(
      hostileRows.filter((r) => r.status === 'rejected').length >= rounds &&
        hostileRows
          .filter((r) => r.status === 'rejected')
          .every((r) => /^rejected-weights: update bound: coordinate/.test(r.reason ?? '')),
      JSON.stringify(hostileRows),
    );

    // The exported student is finite, bounded and the model SQLite describes.
    await tf.setBackend('cpu');
    const student = await tf.loadLayersModel(
      fileModelLoader(join(dataDir, 'runs', runs[0]!.id, 'student', 'model.json')),
    );
    const weights = getFlatWeights(student);
    assert.ok(weights.every((w) => Number.isFinite(w) && Math.abs(w) < 1000));
    const accuracy = evaluate(student, demoSplit({ clients: 2 }).test).accuracy;
    student.dispose();
    assert.equal(accuracy, recorded.at(-1)!.accuracy, 'checkpoint and SQLite agree');
    assert.ok(accuracy > 0.5, `final student accuracy ${accuracy}`);
    t.diagnostic(
      `accuracy by round: ${recorded.map((r) => (r.accuracy * 100).toFixed(1)).join(', ')}%; ${poisons.length} poisons refused`,
    );
    rmSync(dataDir, { recursive: true, force: true });
  },
);

test(
  'with the update bound loosened, the model guard fails rounds whose weights would be out of bounds and the accuracy guard rolls back a collapse',
  { timeout: 600_000 },
  async (t) => {
    const coordinator = await startSmallCoordinator(
      'poison-guard',
      {
        rounds: 3,
        minClients: 3,
        quorum: 0.6,
        roundTimeoutMs: 60_000,
        tokens: [TOKEN],
        serverOptimizer: { kind: 'fedavgm', learningRate: 1, momentum: 0.9 },
        // Let every poison through the bound: the model guard is the line tested here.
        updateBound: { maxCoordinate: 3.4e38, maxNorm: 1e300, minNorm: 1e300 },
        modelGuard: { maxWeight: 1000, maxAccuracyDrop: 0.2 },
      },
      { demoClients: 2 },
    );
    const { running } = coordinator.prepared;
    const split = demoSplit({ clients: 2 });
    const honest = split.shards.map((shard) =>
      nodeClient(coordinator.url, shard, {
        transport: new SocketTransport({ url: coordinator.url, token: TOKEN }),
      }),
    );
    // Round 1: honest (a zero delta from the hostile); 2: 3e38; 3 and 4: 2e38, whose second
    // would be +Infinity in FedAvgM's momentum had the refused round's momentum stayed; 5: 0.5
    // in every weight, within bounds but ruinous; then honest rounds.
    const schedule = new Map<number, { kind: string; delta: (n: number) => Float32Array }>([
      [2, POISONS[0]!],
      [3, POISONS[4]!],
      [4, POISONS[5]!],
      [5, { kind: '0.5 everywhere', delta: (n) => new Float32Array(n).fill(0.5) }],
    ]);
    const sent: Sent[] = [];
    const before = new Map<number, Float32Array>();
    const after = new Map<number, Float32Array>();
    const unsubscribe = running.coordinator.subscribe((event) => {
      if (event.type === 'round:started')
        before.set(event.roundId, getFlatWeights(running.coordinator.studentModel));
      if (event.type === 'round:closed')
        after.set(event.record.round, getFlatWeights(running.coordinator.studentModel));
    });
    let hostile: RawSocket | undefined;
    try {
      const run = running.coordinator.run();
      for (const client of honest) await client.start();
      // Claims a billion samples, so its delta dominates the sample-weighted mean.
      hostile = (await hostileClient(coordinator.url, sent, (r) => schedule.get(r), 1e9)).socket;
      const result = await run;
      const records = result.rounds.map((r) => [r.round, r.status, r.note ?? null]);
      t.diagnostic(JSON.stringify(records));
      assert.equal(result.status, 'completed');
      assert.deepEqual(
        result.rounds.map((r) => r.status),
        ['aggregated', 'failed', 'failed', 'failed', 'failed', 'aggregated', 'aggregated'],
      );
      const notes = result.rounds.map((r) => r.note ?? '');
      assert.match(
        notes[1]!,
        /^model guard: new global weight 0 is (3|2\.99999)e\+38, beyond ±1000$/,
      );
      // The momentum of the refused round 3 was put back: round 4's is 2e38 again, not Infinity.
      assert.match(notes[2]!, /^model guard: new global weight 0 is 2e\+38, beyond ±1000$/);
      assert.match(notes[3]!, /^model guard: new global weight 0 is 2e\+38, beyond ±1000$/);
      assert.match(
        notes[4]!,
        /^accuracy guard: test accuracy fell from \d+\.\d\d% to \d+\.\d\d%, more than the guard's 20\.00 points; rolled back to the last good model$/,
      );
      for (const round of [2, 3, 4, 5]) {
        const a = before.get(round)!;
        const b = after.get(round)!;
        assert.ok(
          Buffer.from(a.buffer).equals(Buffer.from(b.buffer)),
          `round ${round} left the global student unchanged`,
        );
      }
      // Every poison was accepted by the loosened bound: the guards did the work.
      assert.ok(sent.filter((s) => s.kind !== 'zero').every((s) => s.response.ok));
      const accuracies = result.rounds.filter((r) => r.status === 'aggregated');
      assert.ok(accuracies.every((r) => r.studentAccuracy! > 0.3));
      assert.ok(
        accuracies.at(-1)!.studentAccuracy! >= accuracies[0]!.studentAccuracy! - 0.2,
        JSON.stringify(accuracies.map((r) => r.studentAccuracy)),
      );
      const weights = getFlatWeights(running.coordinator.studentModel);
      assert.ok(weights.every((w) => Number.isFinite(w) && Math.abs(w) < 1000));
    } finally {
      unsubscribe();
      hostile?.close();
      for (const client of honest) client.stop();
      await coordinator.close();
    }
  },
);
