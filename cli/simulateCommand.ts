/**
 * `fedistill simulate --config sim.yaml`: many virtual clients, one or more
 * strategies, a run directory with per-round metrics, a summary table and a
 * plot. Flags override the file's `workers`, `name` and output location;
 * `--redis URL` trains the clients on `fedistill worker` processes instead.
 */
import type { SimConfig } from '../sim/config.js';
import { checkRedisUrl } from '../node/redis.js';
import { parseSimConfig, readSimConfigFile } from '../sim/config.js';
import { runSimulation } from '../sim/simulate.js';
import type { SimulationResult } from '../sim/simulate.js';
import { strategyTable } from '../sim/results.js';
import type { Log } from '../node/logger.js';
import type { Progress } from '../node/progress.js';

export interface SimulateOptions {
  /** JSON or YAML file; without one every field takes its default. */
  config?: string;
  /** Exact run directory (default `<outDir>/<name>-<time>`). */
  out?: string;
  workers?: number;
  rounds?: number;
  /** Train on `fedistill worker` processes through this Redis server. */
  redis?: string;
  waitForWorkersMs?: number;
  log: Log;
  /** Teacher and overall progress across runs (the CLI's display). Defaults to none. */
  progress?: Progress;
  /** Called before the result table goes to stdout (clears the bars). */
  beforeResults?: () => void;
}

export async function runSimulate(options: SimulateOptions): Promise<SimulationResult> {
  if (options.redis !== undefined) checkRedisUrl(options.redis);
  const base: SimConfig = options.config ? readSimConfigFile(options.config) : parseSimConfig({});
  const config = parseSimConfig({
    ...base,
    ...(options.workers !== undefined ? { workers: options.workers } : {}),
    ...(options.rounds !== undefined ? { rounds: options.rounds } : {}),
  });
  const result = await runSimulation({
    config,
    ...(options.out !== undefined ? { runDir: options.out } : {}),
    log: options.log,
    ...(options.progress ? { progress: options.progress } : {}),
    ...(options.redis !== undefined
      ? {
          redis: {
            url: options.redis,
            ...(options.waitForWorkersMs !== undefined
              ? { waitForWorkersMs: options.waitForWorkersMs }
              : {}),
          },
        }
      : {}),
  });
  options.beforeResults?.();
  process.stdout.write(`\n${strategyTable(result.summaries, config.rounds)}\n`);
  if (result.files)
    process.stdout.write(
      `\nrun directory ${result.runDir}: metrics.jsonl, summary.md, rounds.svg, result.json\n`,
    );
  return result;
}
