/**
 * The Redis simulation path when things fail: a worker killed while it holds
 * a job (BullMQ puts the job back, the other worker trains it, its update is
 * counted once), Redis restarted mid-run without persistence (a degraded
 * state naming the URL, then recovery with the same result), Redis gone for
 * longer than allowed, unreachable at start, no worker, and a strategy that
 * cannot run on workers. Real redis-server, real `fedistill worker` processes.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { SimConfig } from '../../sim/config.js';
import type { RedisPoolState } from '../../sim/redisPool.js';
import type { SimRoundMetrics } from '../../sim/results.js';
import { runSimulation } from '../../sim/simulate.js';
import { runCli } from '../integration/processes.js';
import type { CliProcess } from '../integration/processes.js';
import { startRedis } from '../support/redis.js';
import type { TestRedis } from '../support/redis.js';
import { tinyConfig } from './tinyConfig.js';

/** Guards against a hang only (a lost job would wait forever); no speed is asserted. */
const HANG_GUARD_MS = 300_000;

function numbers(rounds: SimRoundMetrics[]): unknown[] {
  return rounds.map(({ durationMs: _d, bytesUpPerClient: _b, ...rest }) => rest);
}

let redis: TestRedis;
let config: SimConfig;
let expected: unknown[];
const workers: CliProcess[] = [];

/** Starts `fedistill worker` with a 2 s lock, so a dead worker's job returns within seconds. */
async function startWorker(giveUpAfterS = 60): Promise<CliProcess> {
  const worker = runCli(
    ['worker', '--redis', redis.url, '--give-up-after', String(giveUpAfterS), '--lock-ms', '2000'],
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

async function stopWorkers(): Promise<void> {
  for (const worker of workers.splice(0)) {
    worker.kill();
    await worker.exited;
  }
}

before(async () => {
  redis = await startRedis();
  config = tinyConfig({
    strategy: ['fedkd'],
    clients: 4,
    rounds: 3,
    participation: { fraction: 0.5, minClients: 2 },
    seeds: [3],
    // Enough local work that a job is still running when its worker is killed.
    training: { epochs: 4, batchSize: 8, learningRate: 0.003 },
  });
  const inProcess = await runSimulation({ config, writeOutputs: false });
  assert.equal(inProcess.runs[0]?.status, 'completed', inProcess.runs[0]?.error);
  expected = numbers(inProcess.runs.flatMap((r) => r.rounds));
});

after(async () => {
  await stopWorkers();
  await redis.stop();
  rmSync(config.cacheDir, { recursive: true, force: true });
});

test(
  'a worker killed holding a job: the other worker trains it, counted once, same result',
  { timeout: HANG_GUARD_MS },
  async () => {
    const [victim] = await Promise.all([startWorker(), startWorker()]);
    let killedDuring: string | undefined;
    victim!.child.stderr?.on('data', (chunk: string) => {
      const started = /job (\S+): client \d+ \(attempt/.exec(String(chunk));
      if (started && killedDuring === undefined) {
        killedDuring = started[1];
        victim!.child.kill('SIGKILL');
      }
    });
    try {
      const result = await runSimulation({
        config,
        writeOutputs: false,
        redis: { url: redis.url },
      });
      assert.ok(killedDuring, 'the victim took no job');
      assert.doesNotMatch(victim!.output(), new RegExp(`job ${killedDuring}: done`));
      assert.equal(result.runs[0]?.status, 'completed', result.runs[0]?.error);
      assert.deepEqual(numbers(result.runs.flatMap((r) => r.rounds)), expected);
      const stats = result.redis!;
      assert.ok(stats.stalled >= 1, `stalled ${stats.stalled}`);
      // Every job's update came from the surviving worker and was taken once.
      assert.equal(stats.jobs, 6);
      const byWorker = Object.entries(stats.jobsByWorker);
      assert.equal(byWorker.length, 1, JSON.stringify(stats.jobsByWorker));
      assert.equal(byWorker[0]![1], 6);
      for (const r of result.runs[0]!.rounds) assert.equal(r.participants, 2);
    } finally {
      await stopWorkers();
    }
  },
);

test(
  'Redis restarted mid-run without persistence: degraded naming the URL, then recovery, same result',
  { timeout: HANG_GUARD_MS },
  async () => {
    await Promise.all([startWorker(), startWorker()]);
    const states: RedisPoolState[] = [];
    let restarted: Promise<void> | undefined;
    try {
      const result = await runSimulation({
        config,
        writeOutputs: false,
        redis: {
          url: redis.url,
          onState: (state) => states.push(state),
        },
        onRound: (metrics) => {
          if (metrics.round !== 1 || restarted) return;
          restarted = (async () => {
            await redis.stop();
            for (let i = 0; i < 600 && !states.some((s) => s.kind === 'degraded'); i++)
              await new Promise((resolve) => setTimeout(resolve, 50));
            await redis.start();
          })();
        },
      });
      await restarted;
      assert.equal(result.runs[0]?.status, 'completed', result.runs[0]?.error);
      assert.deepEqual(numbers(result.runs.flatMap((r) => r.rounds)), expected);
      const degraded = states.find((s) => s.kind === 'degraded');
      assert.ok(degraded && degraded.kind === 'degraded', JSON.stringify(states));
      assert.match(degraded.message, new RegExp(`Redis at ${redis.url} unreachable`));
      const recovered = states.find((s) => s.kind === 'recovered');
      assert.ok(recovered && recovered.kind === 'recovered', JSON.stringify(states));
      // The new server was empty: the shards and artifacts were staged again.
      assert.equal(recovered.restaged, true);
      assert.equal(result.redis!.jobs, 6);
    } finally {
      await stopWorkers();
    }
  },
);

test(
  'Redis gone for longer than allowed: the run fails, the worker gives up, both naming the URL',
  { timeout: HANG_GUARD_MS },
  async () => {
    const worker = await startWorker(2);
    try {
      const result = await runSimulation({
        config,
        writeOutputs: false,
        redis: { url: redis.url, outageLimitMs: 1500 },
        onRound: (metrics) => {
          if (metrics.round === 1) void redis.stop();
        },
      });
      assert.equal(result.runs[0]?.status, 'failed');
      assert.match(
        result.runs[0]?.error ?? '',
        new RegExp(`Redis at ${redis.url} unreachable for 2 s: the simulation cannot continue`),
      );
      const exit = await worker.exited;
      assert.equal(exit.code, 1, exit.output);
      assert.match(exit.output, new RegExp(`Redis at ${redis.url} unreachable for 2 s: giving up`));
    } finally {
      await redis.start();
      await stopWorkers();
    }
  },
);

test(
  'Redis unreachable at start, no worker, and a strategy that cannot move: clear errors',
  { timeout: HANG_GUARD_MS },
  async () => {
    const nowhere = 'redis://127.0.0.1:1';
    await assert.rejects(
      runSimulation({ config, writeOutputs: false, redis: { url: nowhere } }),
      /Redis at redis:\/\/127\.0\.0\.1:1 is unreachable/,
    );
    const worker = runCli(['worker', '--redis', nowhere], 120_000);
    const exit = await worker.exited;
    assert.equal(exit.code, 1);
    assert.match(exit.output, /Redis at redis:\/\/127\.0\.0\.1:1 is unreachable/);
    const simulate = runCli(['simulate', '--redis', nowhere, '--quiet'], 120_000);
    const simulated = await simulate.exited;
    assert.equal(simulated.code, 1);
    assert.match(simulated.output, /Redis at redis:\/\/127\.0\.0\.1:1 is unreachable/);
    await assert.rejects(
      runSimulation({
        config,
        writeOutputs: false,
        redis: { url: redis.url, waitForWorkersMs: 500 },
      }),
      /no worker takes jobs from Redis at .*fedistill worker --redis/,
    );
    await assert.rejects(
      runSimulation({
        config: { ...config, strategy: ['fedkd', 'fedmd'] },
        writeOutputs: false,
        redis: { url: redis.url },
      }),
      /^Error: strategy: fedmd /,
    );
  },
);
