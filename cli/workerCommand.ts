/**
 * `fedistill worker --redis URL`: trains the virtual clients of any
 * `fedistill simulate --redis URL` on this host (docs/scaling.md), until
 * SIGINT or SIGTERM. Run as many as the hosts have cores.
 */
import { startSimWorker } from '../sim/redisWorker.js';
import { checkRedisUrl } from '../sim/redisJobs.js';
import type { Log } from './consoleLog.js';

export interface WorkerOptions {
  redis: string;
  concurrency?: number;
  backend?: string;
  lockMs?: number;
  log: Log;
}

export async function runWorker(options: WorkerOptions): Promise<void> {
  checkRedisUrl(options.redis);
  if (options.concurrency !== undefined && options.concurrency < 1)
    throw new Error(`--concurrency: ${options.concurrency} is below 1`);
  if (options.lockMs !== undefined && options.lockMs < 1000)
    throw new Error(`--lock-ms: ${options.lockMs} is below 1000`);
  const worker = await startSimWorker({
    url: options.redis,
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    ...(options.backend !== undefined ? { backend: options.backend } : {}),
    ...(options.lockMs !== undefined ? { lockMs: options.lockMs } : {}),
    log: options.log,
  });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  options.log(`stopping after ${worker.completed} job(s)`);
  await worker.close();
}
