/**
 * Round overhead on loopback: a real coordinator and 10 in-process FedClients
 * over real socket.io connections. For each round, the time from the
 * coordinator's round start to its round record is split into
 * - local training: the union of the clients' trainLocal intervals (from
 *   their `round:trained` events and `trainMillis`);
 * - aggregation: time inside FedAvgAccumulator.add / result (instrumented
 *   here), where it does not overlap training;
 * - overhead: everything else (sending the global weights, decoding them and
 *   setting them on the client's model, encoding / sending / decoding the
 *   updates, evaluation, checkpoint, SQLite, round:end);
 * and closing a round (last update accepted → round record) split into the
 * student's evaluation, the checkpoint write and the SQLite round record,
 * each timed by wrapping the method that does it.
 * In one process the clients' training interleaves on one thread, so the
 * training union is the span during which any client was training.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DirectoryCheckpoints } from '../../server/checkpoints.js';
import { RunStore } from '../../server/store.js';
import { FedAvgAccumulator } from '../../shared/aggregation/index.js';
import type { BenchRow } from '../lib/common.js';
import { fmt, log, now, ratio, runSection, size } from '../lib/common.js';
import { DEMO_TRAINING, runFederation, uncoveredLength, unionLength } from '../lib/federation.js';

const CLIENTS = size(10, 3);
const ROUNDS = size(4, 1);
const STUDENT = size('mlp:128', 'mlp:16');

type Interval = [number, number];
/** Wall-clock intervals (Date.now ms) spent inside the accumulator. */
const aggregationIntervals: Interval[] = [];
/** The parts of closing a round: checkpoint writes, SQLite round records, the student's forward passes (evaluation). */
const checkpointIntervals: Interval[] = [];
const sqliteIntervals: Interval[] = [];
const predictIntervals: Interval[] = [];

const origin = Date.now() - now();

/** Wraps `proto[name]` so every call (sync or async) records its interval into `into`. */
function instrument<T extends object>(proto: T, name: keyof T & string, into: Interval[]): void {
  const original = proto[name] as unknown as (...args: unknown[]) => unknown;
  (proto as Record<string, unknown>)[name] = function (this: unknown, ...args: unknown[]): unknown {
    const started = now();
    const record = (): void => void into.push([origin + started, origin + now()]);
    let result: unknown;
    try {
      result = original.apply(this, args);
    } catch (error) {
      record();
      throw error;
    }
    if (result instanceof Promise) return result.finally(record);
    record();
    return result;
  };
}

function instrumentRound(): void {
  instrument(FedAvgAccumulator.prototype, 'add', aggregationIntervals);
  instrument(FedAvgAccumulator.prototype, 'result', aggregationIntervals);
  instrument(DirectoryCheckpoints.prototype, 'save', checkpointIntervals);
  instrument(RunStore.prototype, 'recordRound', sqliteIntervals);
  // The coordinator's student is a tf.Sequential; evaluate() runs its predict over the test set.
  instrument(tf.Sequential.prototype, 'predict', predictIntervals);
}

async function main(): Promise<BenchRow[]> {
  instrumentRound();
  const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-bench-round-'));
  try {
    const run = await runFederation({
      dataDir,
      clients: CLIENTS,
      rounds: ROUNDS,
      teacherSpec: size('mlp:256', 'mlp:32'),
      teacherEpochs: size(2, 1),
      student: STUDENT,
      training: DEMO_TRAINING,
      timeoutMs: size(300_000, 60_000),
    });
    const perRound = run.result.rounds
      .filter((r) => r.status === 'aggregated')
      .map((record) => {
        const window: [number, number] = [record.startedAt, record.endedAt];
        const clip = ([a, b]: readonly [number, number]): [number, number] => [
          Math.max(a, window[0]),
          Math.min(b, window[1]),
        ];
        const training = run.clientEvents
          .flatMap(({ at, event }) =>
            event.type === 'round:trained' && event.roundId === record.round
              ? [clip([at - event.metrics.trainMillis, at])]
              : [],
          )
          .filter(([a, b]) => b > a);
        const aggregation = aggregationIntervals.map(clip).filter(([a, b]) => b > a);
        const trainMs = unionLength(training);
        const aggMs = uncoveredLength(aggregation, training);
        const total = record.durationMs;
        const other = Math.max(0, total - trainMs - aggMs);
        const lastTrainEnd = Math.max(...training.map(([, b]) => b));
        const firstTrainStart = Math.min(...training.map(([a]) => a));
        const accepted = run.coordinatorEvents
          .filter(({ event }) => event.type === 'update:accepted' && event.roundId === record.round)
          .map(({ at }) => at);
        const lastAccepted = Math.max(...accepted);
        const closing: Interval = [lastAccepted, record.endedAt + 1];
        const within = (intervals: readonly Interval[]): number =>
          unionLength(
            intervals
              .map(([a, b]): Interval => [Math.max(a, closing[0]), Math.min(b, closing[1])])
              .filter(([a, b]) => b > a),
          );
        return {
          checkpointMs: within(checkpointIntervals),
          sqliteMs: within(sqliteIntervals),
          evaluateMs: within(predictIntervals),
          round: record.round,
          // From the last client's end of training to its update being accepted: encode, send, decode, add.
          updates: Math.max(0, lastAccepted - lastTrainEnd),
          // From the last accepted update to the round record: result, evaluate, checkpoint, SQLite.
          close: record.endedAt - lastAccepted,
          total,
          trainMs,
          aggMs,
          other,
          before: firstTrainStart - record.startedAt,
        };
      });
    if (perRound.length === 0) throw new Error('no round aggregated');
    // Round 1 includes first-use warm-up (JIT, kernel setup); report the later rounds when there are any.
    const steady = perRound.length > 1 ? perRound.slice(1) : perRound;
    const sum = (f: (r: (typeof steady)[number]) => number): number =>
      steady.reduce((a, r) => a + f(r), 0);
    const total = sum((r) => r.total);
    const share = sum((r) => r.other) / total;
    for (const r of perRound) {
      log(
        `round ${r.round}: ${fmt(r.total)} ms = training ${fmt(r.trainMs)} + aggregation ${fmt(r.aggMs, 1)} + other ${fmt(r.other)} ` +
          `(before training ${fmt(r.before)}, last update ${fmt(r.updates)}, closing ${fmt(r.close)}: ` +
          `evaluate ${fmt(r.evaluateMs, 1)}, checkpoint ${fmt(r.checkpointMs, 1)}, SQLite ${fmt(r.sqliteMs, 2)})`,
      );
    }
    const n = steady.length;
    const rounds = steady.map((r) => r.round).join(', ');
    const closeMs = sum((r) => r.close) / n;
    const evaluateMs = sum((r) => r.evaluateMs) / n;
    const checkpointMs = sum((r) => r.checkpointMs) / n;
    const sqliteMs = sum((r) => r.sqliteMs) / n;
    const restMs = Math.max(0, closeMs - evaluateMs - checkpointMs - sqliteMs);
    return [
      {
        id: 'round.overhead',
        item: `Round overhead, ${CLIENTS} in-process clients on loopback, student ${STUDENT} (${fmt(run.studentParams)} params)`,
        value: `${(share * 100).toFixed(1)}% of round time`,
        reference: `mean round ${fmt(total / n)} ms: training ${fmt(sum((r) => r.trainMs) / n)} ms, aggregation ${fmt(sum((r) => r.aggMs) / n, 1)} ms`,
        ratio: `${fmt(sum((r) => r.other) / n)} ms/round other`,
        note:
          `rounds ${rounds}; other: ${fmt(sum((r) => r.before) / n)} ms before training (send, decode, set weights), ` +
          `${fmt(sum((r) => r.updates) / n)} ms last update in flight, ` +
          `${fmt(closeMs)} ms closing (see round.close)`,
      },
      {
        id: 'round.close',
        item: `Closing a round (last update accepted → round record), student ${STUDENT}`,
        value: `${fmt(closeMs, 1)} ms/round`,
        reference: `evaluate ${fmt(evaluateMs, 1)} ms, checkpoint ${fmt(checkpointMs, 1)} ms, SQLite ${fmt(sqliteMs, 2)} ms, rest ${fmt(restMs, 1)} ms`,
        ratio: `evaluate ${ratio(evaluateMs, closeMs)}, checkpoint ${ratio(checkpointMs, closeMs)}`,
        note:
          'evaluate: the student forward passes over the test set (tf.Sequential.predict); checkpoint: DirectoryCheckpoints.save; ' +
          'SQLite: RunStore.recordRound; rest: aggregate result, server optimiser step, setting weights, accuracy bookkeeping, round:end',
      },
    ];
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

runSection('round', main);
