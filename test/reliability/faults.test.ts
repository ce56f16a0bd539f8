/**
 * Faults in the middle of a run: a client process killed with SIGKILL while
 * it trains, and a stale client whose update arrives after its round closed.
 *
 * One run, three rounds, quorum 0.5, a short round deadline:
 * - round 1 samples client processes A and B; B is killed the moment the
 *   round starts, so the round closes at its deadline with A's update alone
 *   (1 of 2 meets the quorum) and the run goes on;
 * - a stale client S (a raw socket that joins legitimately once round 1 has
 *   started) is sampled in rounds 2 and 3 but keeps its round-2 work back;
 *   round 2 closes at its deadline with A's update; when round 3 starts S
 *   sends a well-formed round-2 update (right length, finite, that round's
 *   model version, a huge weight): it must be refused 'too-late', recorded
 *   with that reason, and leave the global weights bit for bit as round 2 left
 *   them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { prepareCoordinator } from '../../cli/coordinatorSetup.js';
import type { CoordinatorEvent } from '../../server/coordinator.js';
import { encodeWeights } from '../../shared/codec/index.js';
import { getFlatWeights } from '../../shared/models/index.js';
import type {
  JoinResponse,
  RoundStart,
  UpdateMessage,
  UpdateResponse,
} from '../../shared/protocol/index.js';
import { runCli, type CliProcess } from '../integration/processes.js';
import { VALID_AUTH, connectSocket } from './adversaries.js';
import { smallTraining } from '../support/smallRun.js';

const TOKEN = 'faults-secret';
const ROUND_TIMEOUT_MS = 5_000;

test(
  'a client killed mid-round and a stale late update do not stop or change the run',
  { timeout: 240_000 },
  async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-faults-'));
    const events: CoordinatorEvent[] = [];
    const clients: CliProcess[] = [];
    let killedAt: number | undefined;
    const prepared = await prepareCoordinator({
      config: {
        port: 0,
        dataDir,
        rounds: 3,
        minClients: 2,
        waitForClientsMs: 60_000,
        roundTimeoutMs: ROUND_TIMEOUT_MS,
        quorum: 0.5,
        tokens: [TOKEN],
        training: smallTraining({ updatePrecision: 'float32' }),
      },
      backend: 'cpu',
      teacherSpec: 'mlp:32',
      teacherEpochs: 1,
      student: 'mlp:16',
      demoClients: 2,
      log: () => undefined,
      onEvent: (event) => {
        events.push(event);
        if (event.type === 'round:started' && event.roundId === 1 && killedAt === undefined) {
          killedAt = Date.now();
          clients[1]!.child.kill('SIGKILL');
        }
      },
    });
    const { running } = prepared;
    const coordinator = running.coordinator;
    try {
      for (const i of [0, 1])
        clients.push(
          runCli(
            [
              'join',
              '--server',
              running.url,
              '--token',
              TOKEN,
              '--data',
              `demo:${i}/2`,
              '--backend',
              'wasm',
              '--cache-dir',
              join(dataDir, `cache-${i}`),
              '--name',
              i === 0 ? 'A' : 'B',
            ],
            180_000,
          ),
        );
      const run = coordinator.run();

      // The stale client: joins once round 1 (A and B) has started, then holds its round-2 work back.
      while (!events.some((e) => e.type === 'round:started'))
        await new Promise((r) => setTimeout(r, 20));
      const { socket, refused } = await connectSocket(running.url, VALID_AUTH(TOKEN));
      assert.ok(!refused);
      const starts: RoundStart[] = [];
      const roundThree = new Promise<void>((resolve) =>
        socket.on('round:start', (round: RoundStart) => {
          starts.push(round);
          if (round.roundId === 3) resolve();
        }),
      );
      const joined = (await socket.timeout(10_000).emitWithAck('join', {
        platform: 'node',
        backend: 'cpu',
        numSamples: 100,
        name: 'stale',
      })) as JoinResponse;
      assert.ok(joined.ok);
      const staleId = joined.clientId;
      const numParams = joined.model.numParams;

      await roundThree;
      const roundTwo = starts.find((r) => r.roundId === 2);
      assert.ok(roundTwo, 'the stale client was sampled in round 2');
      // Round 2 has closed and round 3 is open: nothing may change the global weights until round 3 closes.
      const before = getFlatWeights(coordinator.studentModel);
      const late: UpdateMessage = {
        roundId: 2,
        modelVersion: roundTwo.modelVersion,
        numSamples: 1_000_000,
        delta: encodeWeights(new Float32Array(numParams).fill(1000), 'float32'),
        metrics: { loss: 0.1, accuracy: 0.99, trainMillis: 100, steps: 10 },
      };
      const response = (await socket.timeout(10_000).emitWithAck('update', late)) as UpdateResponse;
      const afterLate = getFlatWeights(coordinator.studentModel);
      const status = coordinator.status() as { openRound: { id: number } | null };
      assert.ok(!response.ok, 'the late update was accepted');
      assert.equal(response.error.code, 'too-late');
      assert.equal(status.openRound?.id, 3, 'round 3 was still open: the comparison is meaningful');
      assert.ok(
        Buffer.from(afterLate.buffer).equals(Buffer.from(before.buffer)),
        'the global weights are unchanged by the late update',
      );

      const result = await run;
      socket.close();
      const [a, b] = await Promise.all(clients.map((c) => c.exited));
      assert.equal(a!.code, 0, a!.output);
      assert.equal(clients[1]!.child.signalCode, 'SIGKILL', b!.output);

      // The run went on: three rounds, each closed at its deadline with A's update under the quorum.
      assert.equal(result.status, 'completed');
      assert.deepEqual(
        result.rounds.map((r) => [r.round, r.status, r.sampled, r.participants]),
        [
          [1, 'aggregated', 2, 1],
          [2, 'aggregated', 2, 1],
          [3, 'aggregated', 2, 1],
        ],
      );
      for (const r of result.rounds)
        assert.ok(r.durationMs >= ROUND_TIMEOUT_MS - 50, `round ${r.round} closed at its deadline`);
      assert.ok(
        events.some((e) => e.type === 'client:left'),
        'the coordinator saw the killed client go',
      );
      // The final student is a sane model, not one dragged by a 1,000-per-weight delta.
      const final = getFlatWeights(coordinator.studentModel);
      assert.ok(final.every((w) => Math.abs(w) < 50));

      const db = new Database(running.store.path, { readonly: true });
      const rows = db
        .prepare(
          'SELECT round, client_id, status, reason FROM updates WHERE run_id = ? ORDER BY id',
        )
        .all(result.runId) as {
        round: number;
        client_id: string;
        status: string;
        reason: string | null;
      }[];
      db.close();
      const staleRows = rows.filter((r) => r.client_id === staleId);
      assert.equal(staleRows.length, 1);
      assert.equal(staleRows[0]!.round, 2);
      assert.equal(staleRows[0]!.status, 'rejected');
      assert.match(staleRows[0]!.reason ?? '', /^too-late: /);
      const acceptedRows = rows.filter((r) => r.status === 'accepted');
      assert.deepEqual(
        acceptedRows.map((r) => r.round),
        [1, 2, 3],
      );
      assert.ok(acceptedRows.every((r) => r.client_id !== staleId));
      t.diagnostic(
        `killed B ${killedAt ? 'as round 1 started' : 'never'}; rounds ${result.rounds
          .map(
            (r) =>
              `${r.round}: ${r.participants}/${r.sampled} in ${(r.durationMs / 1000).toFixed(1)} s`,
          )
          .join(', ')}; late update: ${staleRows[0]!.reason}`,
      );
    } finally {
      for (const client of clients) client.kill();
      await running.close();
      prepared.teacher.dispose();
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
);
