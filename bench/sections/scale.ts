/**
 * Scale: 1,000 concurrent socket.io client connections to one coordinator
 * (simulated clients spread over a few child processes on 127.0.0.1, see
 * bench/lib/simClients.ts), the coordinator's memory per joined connection, and one
 * round with 200 sampled participants completing. Bounded: the child
 * processes and this section each stop on a timer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectNodeBackend } from '../../node/backend.js';
import { startCoordinator } from '../../server/startCoordinator.js';
import { mlpSpec } from '../../shared/models/index.js';
import type { BenchRow } from '../lib/common.js';
import { fmt, gc, log, memory, now, runSection, size } from '../lib/common.js';
import type { SimClientDrivers } from '../lib/simFederation.js';
import {
  SCALE_CLASSES,
  SCALE_FEATURES,
  scaleData,
  scaleTeacher,
  startSimClients,
  waitFor,
} from '../lib/simFederation.js';

const CONNECTIONS = size(1000, 24);
const PARTICIPANTS = size(200, 6);
const PROCESSES = size(4, 2);
const TIMEOUT_MS = size(180_000, 40_000);

async function main(): Promise<BenchRow[]> {
  const deadline = setTimeout(() => {
    log(`scale: still running after ${TIMEOUT_MS} ms, giving up`);
    process.exit(1);
  }, TIMEOUT_MS + 30_000);
  deadline.unref();
  await selectNodeBackend({ force: 'wasm' });
  const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-bench-scale-'));
  const teacher = scaleTeacher();
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
    studentSpec: mlpSpec(SCALE_FEATURES, [16], SCALE_CLASSES),
    data: scaleData(),
  });
  let drivers: SimClientDrivers | undefined;
  try {
    gc();
    const before = memory();
    const connectStarted = now();
    drivers = startSimClients(
      [{ url: running.url, connections: CONNECTIONS, processes: PROCESSES }],
      TIMEOUT_MS,
      'sim',
    );
    const connected = (): number => running.coordinator.status().connectedClients as number;
    await waitFor(
      () => connected() >= CONNECTIONS,
      TIMEOUT_MS,
      `${CONNECTIONS} joined clients`,
      drivers.problem,
    );
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
      `scale: round ${record.round} ${record.status}: ${record.participants}/${record.sampled} in ${fmt(record.durationMs)} ms (${drivers.answered()} acks seen by clients)`,
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
    await drivers?.stop();
    await running.close();
    teacher.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

runSection('scale', main);
