/**
 * `fedistill serve`: a coordinator that runs the configured rounds for
 * whichever clients join, then exports the student and prints the summary.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { CoordinatorSetup } from './coordinatorSetup.js';
import { lingerAfterRun, prepareCoordinator, runAndSummarize } from './coordinatorSetup.js';
import { parseCoordinatorConfig } from '../server/config.js';
import { followRun } from './runProgress.js';

/** Reads a JSON or YAML coordinator config file; flags given on the command line override it. */
export function readConfigFile(path: string): Record<string, unknown> {
  const text = readFileSync(path, 'utf8');
  const value: unknown = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`config file ${path} must hold an object of coordinator settings`);
  }
  return value as Record<string, unknown>;
}

export async function runServe(setup: CoordinatorSetup): Promise<number> {
  const { rounds, waitForClientsMs } = parseCoordinatorConfig(setup.config);
  const follow = followRun({
    rounds,
    waitForClientsMs,
    log: setup.log,
    ...(setup.progress ? { progress: setup.progress } : {}),
  });
  const prepared = await prepareCoordinator({
    ...setup,
    onEvent: (event) => {
      follow(event);
      setup.onEvent?.(event);
    },
  });
  const { running } = prepared;
  const stop = () => {
    running.coordinator.stop();
    running.endLinger();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const { result } = await runAndSummarize(
      prepared,
      join(running.checkpoints.runDir, 'summary.json'),
      setup.beforeResults,
    );
    await lingerAfterRun(running, setup.log);
    return result.status === 'completed' ? 0 : 1;
  } finally {
    await running.close();
    prepared.teacher.dispose();
  }
}
