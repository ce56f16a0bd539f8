/**
 * Simulation past one host: the same seeded simulation (fedkd, fedavg, feddf) with its clients
 * trained by two real `fedistill worker` processes through a real
 * redis-server gives the numbers the in-process simulation gives, bit for bit
 * (the hub fixes the order updates are summed in), and leaves nothing behind
 * in Redis.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { Redis } from 'ioredis';
import { startSimWorker } from '../../sim/redisWorker.js';
import type { SimRoundMetrics } from '../../sim/results.js';
import { runSimulation } from '../../sim/simulate.js';
import { runCli } from '../integration/processes.js';
import type { CliProcess } from '../integration/processes.js';
import { startRedis } from '../support/redis.js';
import type { TestRedis } from '../support/redis.js';
import { tinyConfig } from './tinyConfig.js';

/** Everything a round reports except its duration and update size (training time is in the update). */
/** Guards against a hang only (a lost job would wait forever); no speed is asserted. */
const HANG_GUARD_MS = 300_000;

function numbers(rounds: SimRoundMetrics[]): unknown[] {
  return rounds.map(({ durationMs: _d, bytesUpPerClient: _b, ...rest }) => rest);
}

let redis: TestRedis;
const workers: CliProcess[] = [];

/** Starts `fedistill worker`; resolves once it says it takes jobs. */
async function startWorker(extra: string[] = []): Promise<CliProcess> {
  const worker = runCli(
    ['worker', '--redis', redis.url, '--give-up-after', '60', ...extra],
    600_000,
  );
  workers.push(worker);
  for (let i = 0; i < 1200 && !worker.output().includes('takes jobs from'); i++) {
    if (worker.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.match(worker.output(), /takes jobs from/, worker.output());
  return worker;
}

before(async () => {
  redis = await startRedis();
});

async function stopWorkers(): Promise<void> {
  for (const worker of workers.splice(0)) {
    worker.kill();
    await worker.exited;
  }
}

after(async () => {
  await stopWorkers();
  await redis.stop();
});

test(
  'two worker processes over Redis give the in-process result bit for bit, and Redis is left empty',
  { timeout: HANG_GUARD_MS },
  async () => {
    const config = tinyConfig({
      strategy: ['fedkd', 'fedavg', 'feddf'],
      clients: 4,
      rounds: 3,
      participation: { fraction: 0.5, minClients: 2 },
      seeds: [3],
    });
    try {
      await Promise.all([startWorker(), startWorker()]);
      const inProcess = await runSimulation({ config, writeOutputs: false });
      const viaRedis = await runSimulation({
        config,
        writeOutputs: false,
        redis: { url: redis.url },
      });
      for (const r of [...inProcess.runs, ...viaRedis.runs])
        assert.equal(r.status, 'completed', r.error);
      const expected = numbers(inProcess.runs.flatMap((r) => r.rounds));
      assert.equal(expected.length, 9);
      assert.deepEqual(numbers(viaRedis.runs.flatMap((r) => r.rounds)), expected);
      const stats = viaRedis.redis;
      assert.ok(stats);
      assert.equal(stats.workers, 2);
      // 3 strategies × 3 rounds × 2 sampled clients, each trained once.
      assert.equal(stats.jobs, 18);
      assert.equal(
        Object.values(stats.jobsByWorker).reduce((a, b) => a + b, 0),
        18,
      );
      // Both processes trained (two jobs wait in every round for two idle workers).
      assert.equal(Object.keys(stats.jobsByWorker).length, 2, JSON.stringify(stats.jobsByWorker));
      assert.equal(stats.stalled, 0);
      const probe = new Redis(redis.url);
      try {
        assert.deepEqual(await probe.keys('fedistill:sim:*'), []);
        const queued = await probe.keys('bull:fedistill-sim-training:*');
        // Only BullMQ's own bookkeeping stays (ids counter, events stream, meta), no job.
        for (const key of queued) assert.doesNotMatch(key, /:\w{12}\.\d+\.\d+\./, key);
      } finally {
        probe.disconnect();
      }
    } finally {
      await stopWorkers();
      rmSync(config.cacheDir, { recursive: true, force: true });
    }
  },
);

test(
  'a worker leaves no tensor behind: the same count before and after 8 jobs',
  { timeout: HANG_GUARD_MS },
  async () => {
    const config = tinyConfig({ strategy: ['fedkd'], clients: 4, rounds: 2, seeds: [3] });
    // In this process, so its tensors are countable; the simulation's own are disposed by then.
    const worker = await startSimWorker({ url: redis.url });
    try {
      const before = tf.memory().numTensors;
      const result = await runSimulation({
        config,
        writeOutputs: false,
        redis: { url: redis.url },
      });
      assert.equal(result.runs[0]?.status, 'completed', result.runs[0]?.error);
      assert.equal(result.redis?.jobs, 8);
      assert.equal(worker.completed, 8);
      assert.equal(tf.memory().numTensors, before);
    } finally {
      await worker.close();
      rmSync(config.cacheDir, { recursive: true, force: true });
    }
  },
);
