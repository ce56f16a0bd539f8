/**
 * A coordinator with edges whose start fails after the edges' control plane
 * is up (here: its port is taken) closes that control plane: no Redis
 * connection of its stays open, so the process does not linger on them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { prepareCoordinator } from '../../../../cli/coordinatorSetup.js';
import { startRedis, type TestRedis } from '../../../support/redis.js';
import { SMALL_MODELS, smallTraining } from '../../../support/smallRun.js';

const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-edge-start-'));
let redis: TestRedis;

before(async () => {
  redis = await startRedis();
});

after(async () => {
  await redis?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('a start that fails after the edges are up closes their Redis connections', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()));
  const port = (taken.address() as AddressInfo).port;
  const observer = new Redis(redis.url);
  try {
    await assert.rejects(
      prepareCoordinator({
        config: {
          port,
          host: '127.0.0.1',
          dataDir,
          rounds: 1,
          minClients: 1,
          strategy: 'fedavg',
          training: smallTraining(),
        },
        backend: 'wasm',
        ...SMALL_MODELS,
        demoClients: 1,
        log: () => undefined,
        edges: { redis: redis.url, secret: 'a-secret-of-16-chars' },
      }),
      /EADDRINUSE/,
    );
    // Connections close asynchronously: give them a moment, then only the observer is left.
    let clients = 0;
    for (let i = 0; i < 50; i++) {
      const list = (await observer.client('LIST')) as string;
      clients = list.trim().split('\n').length;
      if (clients === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(clients, 1, 'only the observer’s connection is left');
  } finally {
    observer.disconnect();
    taken.close();
  }
});
