/**
 * Scale: 1,000 concurrent socket.io client connections to one coordinator
 * (simulated clients spread over a few child processes on 127.0.0.1, see
 * scaleClients.ts), the coordinator's memory per joined connection, and one
 * round with 200 sampled participants completing. Bounded: the child
 * processes and this section each stop on a timer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '../../node/backend.js';
import { startCoordinator } from '../../server/startCoordinator.js';
import { teacherFromForward } from '../../server/teachers/index.js';
import { mlpSpec } from '../../shared/models/index.js';
import type { BenchRow } from '../lib/common.js';
import { fillRandom, fmt, gc, log, memory, now, runSection, size } from '../lib/common.js';

const CONNECTIONS = size(1000, 24);
const PARTICIPANTS = size(200, 6);
const PROCESSES = size(4, 2);
const FEATURES = 64;
const TIMEOUT_MS = size(180_000, 40_000);

function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const timer = setInterval(() => {
      if (check()) {
        clearInterval(timer);
        resolve();
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(timer);
        reject(new Error(`timed out waiting for ${what}`));
      }
    }, 20);
  });
}

async function main(): Promise<BenchRow[]> {
  const deadline = setTimeout(() => {
    log(`scale: still running after ${TIMEOUT_MS} ms, giving up`);
    process.exit(1);
  }, TIMEOUT_MS + 30_000);
  deadline.unref();
  await selectNodeBackend({ force: 'wasm' });
  const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-bench-scale-'));
  const numClasses = 10;
  const kernel = tf.tensor2d(fillRandom(new Float32Array(FEATURES * numClasses), 5, 1), [
    FEATURES,
    numClasses,
  ]);
  const teacher = teacherFromForward({
    description: 'random linear teacher (scale benchmark)',
    numParams: kernel.size,
    hash: 'scale-bench-teacher',
    inputShape: [FEATURES],
    numClasses,
    outputs: 'logits',
    forward: (x) => tf.matMul(x as tf.Tensor2D, kernel),
    dispose: () => kernel.dispose(),
  });
  const synthetic = (count: number, seed: number) => {
    const x = fillRandom(new Float32Array(count * FEATURES), seed, 0.5).map((v) => v + 0.5);
    const y = new Int32Array(count).map((_, i) => i % numClasses);
    return { x, y, count };
  };
  const test = synthetic(256, 2);
  const running = await startCoordinator({
    config: {
      port: 0,
      host: '127.0.0.1',
      dataDir,
      rounds: 1,
      minClients: PARTICIPANTS,
      fraction: PARTICIPANTS / CONNECTIONS,
      waitForClientsMs: 0,
      roundTimeoutMs: 60_000,
      quorum: 1,
    },
    teacher,
    studentSpec: mlpSpec(FEATURES, [16], numClasses),
    data: { proxy: { x: synthetic(64, 1).x, count: 64, featureShape: [FEATURES] }, test },
  });
  const children: ChildProcess[] = [];
  try {
    gc();
    const before = memory();
    const script = fileURLToPath(new URL('./scaleClients.ts', import.meta.url));
    const connectStarted = now();
    let answered = 0;
    for (let p = 0; p < PROCESSES; p++) {
      const share = Math.floor(CONNECTIONS / PROCESSES) + (p < CONNECTIONS % PROCESSES ? 1 : 0);
      const child = spawn(process.execPath, ['--import', 'tsx', script], {
        env: {
          ...process.env,
          FEDISTILL_SCALE_URL: running.url,
          FEDISTILL_SCALE_COUNT: String(share),
          FEDISTILL_SCALE_WORKER: String(p),
          FEDISTILL_SCALE_TIMEOUT_MS: String(TIMEOUT_MS),
        },
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      children.push(child);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.startsWith('answered')) answered++;
      });
    }
    const connected = (): number => running.coordinator.status().connectedClients as number;
    await waitFor(() => connected() >= CONNECTIONS, TIMEOUT_MS, `${CONNECTIONS} joined clients`);
    const connectMs = now() - connectStarted;
    gc();
    const after = memory();
    const perConnection = {
      heap: (after.heapAndBuffers - before.heapAndBuffers) / CONNECTIONS,
      rss: (after.rss - before.rss) / CONNECTIONS,
    };
    log(
      `scale: ${connected()} joined in ${fmt(connectMs)} ms; ${fmt(perConnection.heap / 1024, 1)} KiB heap+buffers, ${fmt(perConnection.rss / 1024, 1)} KiB RSS per connection`,
    );

    const result = await running.coordinator.run();
    const record = result.rounds[0];
    if (!record) throw new Error('the round never closed');
    log(
      `scale: round ${record.round} ${record.status}: ${record.participants}/${record.sampled} in ${fmt(record.durationMs)} ms (${answered} acks seen by clients)`,
    );
    return [
      {
        id: 'scale.connections',
        item: `Scale: ${fmt(CONNECTIONS)} concurrent socket.io clients (${PROCESSES} processes, 127.0.0.1) joined`,
        value: `${fmt(connected())} joined in ${fmt(connectMs / 1000, 1)} s`,
        reference: `target ${fmt(CONNECTIONS)}`,
        ratio: `${fmt(connected() / CONNECTIONS, 2)}×`,
        note: 'websocket transport, msgpack parser, one Engine.IO connection each',
      },
      {
        id: 'scale.memory',
        item: `Scale: coordinator memory per joined connection (after GC)`,
        value: `${fmt(perConnection.heap / 1024, 1)} KiB heap + ArrayBuffers`,
        reference: `RSS ${fmt(perConnection.rss / 1024, 1)} KiB per connection`,
        ratio: `${fmt((perConnection.heap * CONNECTIONS) / 1024 / 1024, 1)} MiB for ${fmt(CONNECTIONS)}`,
      },
      {
        id: 'scale.round',
        item: `Scale: one round sampling ${PARTICIPANTS} of ${fmt(CONNECTIONS)} (student ${fmt(running.coordinator.studentParams)} params)`,
        value: `${record.status}, ${record.participants}/${record.sampled} updates in ${fmt(record.durationMs)} ms`,
        reference: `target ${PARTICIPANTS} participants`,
        ratio: `${fmt(record.participants / PARTICIPANTS, 2)}×`,
        note: `${fmt(record.bytesDownPerClient)} B down, ${fmt(record.bytesUpPerClient)} B up per client (int8)`,
      },
    ];
  } finally {
    for (const child of children) child.stdin?.end();
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
            child.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
          }),
      ),
    );
    await running.close();
    teacher.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

runSection('scale', main);
