/**
 * The simulation's Redis path (docs/scaling.md): one seeded fedkd simulation
 * three times on this machine: clients on 2 worker threads (the in-process
 * reference), then trained by 1 and by 2 `fedistill worker` processes through
 * a local redis-server (Debian's, no persistence). Reported: training jobs
 * per second over the federated run's wall time (rounds included: sampling,
 * aggregation, evaluation), and the payload bytes the simulation process
 * moved through Redis per round (job inputs with the global weights, outputs
 * with the deltas; the workers move the same bytes once more on their side).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSimConfig } from '../../sim/config.js';
import type { SimConfig } from '../../sim/config.js';
import { runSimulation } from '../../sim/simulate.js';
import type { SimulationResult } from '../../sim/simulate.js';
import { startRedis } from '../../test/support/redis.js';
import type { BenchRow } from '../lib/common.js';
import { MB, fmt, log, runSection, size } from '../lib/common.js';

const CLI_MAIN = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
const CLIENTS = size(20, 4);
const ROUNDS = size(4, 1);

function benchConfig(cacheDir: string): SimConfig {
  return parseSimConfig({
    name: 'bench-redis',
    cacheDir,
    data: { total: size(6000, 1000) },
    clients: CLIENTS,
    rounds: ROUNDS,
    participation: { fraction: 0.5, minClients: 2 },
    partition: { kind: 'iid' },
    teacher: { spec: size('mlp:128', 'mlp:32'), epochs: size(2, 1) },
    student: size('mlp:128', 'mlp:16'),
    training: { epochs: 2, batchSize: 32, learningRate: 0.003 },
    strategy: ['fedkd'],
    seeds: [1],
    workers: 2,
  });
}

/** Starts one `fedistill worker`; resolves once it takes jobs. */
function startWorker(url: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI_MAIN, 'worker', '--redis', url], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      output += chunk;
      if (output.includes('takes jobs from')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}: ${output}`)));
  });
}

function federatedSeconds(result: SimulationResult): number {
  const run = result.runs[0];
  if (!run || run.status !== 'completed') throw new Error(`run failed: ${run?.error ?? 'none'}`);
  return run.wallMs / 1000;
}

async function main(): Promise<BenchRow[]> {
  const cacheDir = mkdtempSync(join(tmpdir(), 'fedistill-bench-redis-'));
  const redis = await startRedis();
  const workers: ChildProcess[] = [];
  try {
    const config = benchConfig(cacheDir);
    const threads = await runSimulation({ config, writeOutputs: false });
    const threadSeconds = federatedSeconds(threads);
    const jobsTotal = threads.runs[0]!.rounds.reduce((n, r) => n + r.participants, 0);
    log(`redisSim: 2 threads, ${jobsTotal} client rounds in ${fmt(threadSeconds, 1)} s`);
    const perWorkers: { workers: number; seconds: number; result: SimulationResult }[] = [];
    for (const count of [1, 2]) {
      while (workers.length < count) workers.push(await startWorker(redis.url));
      const result = await runSimulation({
        config,
        writeOutputs: false,
        redis: { url: redis.url },
      });
      const seconds = federatedSeconds(result);
      log(`redisSim: ${count} worker(s), ${result.redis?.jobs ?? 0} jobs in ${fmt(seconds, 1)} s`);
      perWorkers.push({ workers: count, seconds, result });
    }
    const [one, two] = perWorkers as [(typeof perWorkers)[0], (typeof perWorkers)[0]];
    const jobsPerSecond = (p: (typeof perWorkers)[0]) => (p.result.redis?.jobs ?? 0) / p.seconds;
    const stats = two.result.redis!;
    const setting = `${CLIENTS} clients, half sampled, ${ROUNDS} rounds, student ${config.student as string}, ${config.training.epochs} epochs`;
    return [
      {
        id: 'redis.sim.jobs-1',
        item: `simulate --redis, 1 worker process: training jobs/s (${setting})`,
        value: `${fmt(jobsPerSecond(one), 2)} jobs/s`,
        reference: `${fmt(jobsTotal / threadSeconds, 2)} jobs/s on 2 worker threads`,
        ratio: `${fmt(jobsPerSecond(one) / (jobsTotal / threadSeconds), 2)}×`,
        note: 'wall time of the federated run, rounds included',
      },
      {
        id: 'redis.sim.jobs-2',
        item: 'simulate --redis, 2 worker processes: training jobs/s (same run)',
        value: `${fmt(jobsPerSecond(two), 2)} jobs/s`,
        reference: `${fmt(jobsPerSecond(one), 2)} jobs/s with 1 worker`,
        ratio: `${fmt(jobsPerSecond(two) / jobsPerSecond(one), 2)}×`,
        note: 'the simulation process shares the 2 cores with the workers',
      },
      {
        id: 'redis.sim.bytes',
        item: 'simulate --redis: payload bytes per round through Redis, simulation side',
        value: `${fmt((stats.jobBytesWritten + stats.jobBytesRead) / ROUNDS / MB, 2)} MB/round`,
        reference: `${fmt(stats.jobBytesWritten / Math.max(1, stats.jobs) / 1024, 1)} KiB in + ${fmt(stats.jobBytesRead / Math.max(1, stats.jobs) / 1024, 1)} KiB out per job`,
        note: `once per simulation: ${fmt((stats.bytesWritten - stats.jobBytesWritten) / MB, 2)} MB of shards and artifacts`,
      },
    ];
  } finally {
    for (const worker of workers) worker.kill('SIGTERM');
    await redis.stop();
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

runSection('redisSim', main);
