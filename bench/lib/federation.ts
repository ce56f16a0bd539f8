/**
 * A short demo-like federated run for the benchmarks: a real coordinator
 * (prepareCoordinator, port 0, embedded MNIST split, teacher trained once and
 * cached in `dataDir`) and N in-process FedClients over real socket.io
 * connections on 127.0.0.1. Returns the round records plus every client's and
 * the coordinator's events with timestamps, for byte, accuracy and timing
 * accounting.
 */
import { FedClient } from '../../client/fedClient.js';
import type { FedClientEvent } from '../../client/fedClient.js';
import { SocketTransport } from '../../client/socketTransport.js';
import { prepareCoordinator } from '../../cli/coordinatorSetup.js';
import { demoSplit } from '../../node/demo/demoSplit.js';
import type { CoordinatorConfigInput } from '../../server/config.js';
import type { CoordinatorEvent, RunResult } from '../../server/coordinator.js';
import type { Teacher } from '../../server/teachers/index.js';
import type { LabeledData } from '../../shared/data/types.js';
import { DEFAULT_TRAINING } from '../../server/config.js';

export interface FederationOptions {
  dataDir: string;
  clients: number;
  rounds: number;
  teacherSpec: string;
  teacherEpochs: number;
  student: string;
  training: NonNullable<CoordinatorConfigInput['training']>;
  softLabelTopK?: number;
  softLabelPrecision?: 'float32' | 'float16' | 'uint8';
  /** Hard stop for the whole run; the coordinator is stopped when it passes. */
  timeoutMs: number;
}

export interface TimedClientEvent {
  client: number;
  at: number;
  event: FedClientEvent;
}

export interface FederationResult {
  result: RunResult;
  teacherAccuracy: number;
  studentParams: number;
  clientEvents: TimedClientEvent[];
  coordinatorEvents: { at: number; event: CoordinatorEvent }[];
  /** Teacher probabilities at the run's temperature are not kept; the teacher's logits on `proxy` are. */
  proxy: LabeledData;
  proxyTeacherLogits: Float32Array;
}

/** Runs one federation to completion (or `timeoutMs`), then closes everything. */
export async function runFederation(options: FederationOptions): Promise<FederationResult> {
  const coordinatorEvents: { at: number; event: CoordinatorEvent }[] = [];
  const clientEvents: TimedClientEvent[] = [];
  const prepared = await prepareCoordinator({
    config: {
      port: 0,
      host: '127.0.0.1',
      dataDir: options.dataDir,
      rounds: options.rounds,
      minClients: options.clients,
      waitForClientsMs: 60_000,
      roundTimeoutMs: Math.max(1000, options.timeoutMs),
      quorum: 1,
      training: options.training,
      ...(options.softLabelTopK !== undefined ? { softLabelTopK: options.softLabelTopK } : {}),
      ...(options.softLabelPrecision !== undefined
        ? { softLabelPrecision: options.softLabelPrecision }
        : {}),
    },
    backend: 'wasm',
    teacherSpec: options.teacherSpec,
    teacherEpochs: options.teacherEpochs,
    student: options.student,
    demoClients: options.clients,
    log: () => undefined,
    onEvent: (event) => coordinatorEvents.push({ at: Date.now(), event }),
  });
  const { running } = prepared;
  const teacher: Teacher = prepared.teacher;
  const split = demoSplit({ clients: options.clients });
  const clients = split.shards.map(
    (data, i) =>
      new FedClient({
        transport: new SocketTransport({ url: running.url }),
        data,
        platform: 'node',
        backend: prepared.backend,
        name: `bench-${i}`,
        onEvent: (event) => {
          if (event.type !== 'train:progress')
            clientEvents.push({ client: i, at: Date.now(), event });
        },
      }),
  );
  const timer = setTimeout(() => running.coordinator.stop(), options.timeoutMs);
  try {
    await Promise.all(clients.map((c) => c.start()));
    const result = await running.coordinator.run();
    const proxyTeacherLogits = await teacher.logits(split.proxy.x, split.proxy.count);
    return {
      result,
      teacherAccuracy: running.teacherAccuracy,
      studentParams: running.coordinator.studentParams,
      clientEvents,
      coordinatorEvents,
      proxy: split.proxy,
      proxyTeacherLogits,
    };
  } finally {
    clearTimeout(timer);
    for (const client of clients) client.stop();
    await running.close();
    teacher.dispose();
  }
}

/** Demo-like training settings (the demo's defaults with one local epoch). */
export const DEMO_TRAINING: FederationOptions['training'] = { ...DEFAULT_TRAINING, epochs: 1 };

/** Total length of the union of `[start, end)` intervals. */
export function unionLength(intervals: readonly (readonly [number, number])[]): number {
  const sorted = [...intervals].filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let total = 0;
  let curStart = -Infinity;
  let curEnd = -Infinity;
  for (const [a, b] of sorted) {
    if (a > curEnd) {
      if (curEnd > curStart) total += curEnd - curStart;
      curStart = a;
      curEnd = b;
    } else {
      curEnd = Math.max(curEnd, b);
    }
  }
  if (curEnd > curStart) total += curEnd - curStart;
  return total;
}

/** Length of the parts of `intervals` not covered by `cover`. */
export function uncoveredLength(
  intervals: readonly (readonly [number, number])[],
  cover: readonly (readonly [number, number])[],
): number {
  const both = unionLength([...intervals, ...cover]);
  return both - unionLength(cover);
}
