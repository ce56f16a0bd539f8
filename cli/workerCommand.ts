/**
 * `fedistill worker --redis URL`: trains the virtual clients of any
 * `fedistill simulate --redis URL` on this host (docs/scaling.md), until
 * SIGINT or SIGTERM. Run as many as the hosts have cores.
 */
import { startSimWorker } from '../sim/redisWorker.js';
import { checkRedisUrl } from '../node/redis.js';
import type { Log } from '../node/logger.js';

export interface WorkerOptions {
  redis: string;
  concurrency?: number;
  backend?: string;
  lockMs?: number;
  giveUpAfterMs?: number;
  log: Log;
}

export async function runWorker(options: WorkerOptions): Promise<void> {
  checkRedisUrl(options.redis);
  if (options.concurrency !== undefined && options.concurrency < 1)
    throw new Error(`--concurrency: ${options.concurrency} is below 1`);
  if (options.lockMs !== undefined && options.lockMs < 1000)
    throw new Error(`--lock-ms: ${options.lockMs} is below 1000`);
  if (options.giveUpAfterMs !== undefined && !(options.giveUpAfterMs > 0))
    throw new Error(`--give-up-after: must be above 0 seconds`);
  const worker = await startSimWorker({
    url: options.redis,
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    ...(options.backend !== undefined ? { backend: options.backend } : {}),
    ...(options.lockMs !== undefined ? { lockMs: options.lockMs } : {}),
    ...(options.giveUpAfterMs !== undefined ? { giveUpAfterMs: options.giveUpAfterMs } : {}),
    log: options.log,
  });
  const gaveUp = await Promise.race([
    worker.gaveUp,
    new Promise<undefined>((resolve) => {
      process.once('SIGINT', () => resolve(undefined));
      process.once('SIGTERM', () => resolve(undefined));
    }),
  ]);
  options.log(`stopping after ${worker.completed} job(s)`);
  await worker.close();
  if (gaveUp !== undefined) throw new Error(gaveUp);
}
