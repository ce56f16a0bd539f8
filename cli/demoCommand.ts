/**
 * `fedistill demo`: the whole product on one machine. A coordinator with a
 * teacher trained on real MNIST digits, N Node client processes each holding
 * a non-IID private shard, a few federated rounds of distillation with
 * progress shown, and a summary (also written as JSON in the data directory).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { RunSummary } from '../server/summary.js';
import { DEFAULT_TRAINING } from '../server/config.js';
import { lingerAfterRun, prepareCoordinator, runAndSummarize } from './coordinatorSetup.js';
import { followRun } from './runProgress.js';
import type { Log, LogLevel, Logger } from '../node/logger.js';
import { parseLogLine } from '../node/logger.js';
import type { Progress } from '../node/progress.js';

export interface DemoOptions {
  clients: number;
  rounds: number;
  dataDir: string;
  teacherEpochs?: number;
  teacherSpec?: string;
  student?: string;
  epochs?: number;
  alpha?: number;
  backend?: string;
  /** Show every client's info lines (their warnings and errors show always). */
  verbose: boolean;
  /** Aggregate with secure aggregation (defaults otherwise). */
  secureAggregation?: boolean;
  /** Keep the dashboard up this long after the run (ms or 'forever'). Defaults to 0. */
  lingerMs?: number | 'forever';
  log: Log;
  /** The clients' lines are logged through this logger, as components `client I`. Defaults to `log`. */
  logger?: Logger;
  /** The clients' log level. Defaults to info. */
  logLevel?: LogLevel;
  /** Teacher, waiting and rounds progress (the CLI's display). Defaults to none. */
  progress?: Progress;
  /** Called before the summary goes to stdout (clears the bars). */
  beforeResults?: () => void;
}

const WAIT_FOR_CLIENTS_MS = 120_000;

export async function runDemo(options: DemoOptions): Promise<RunSummary> {
  const { log } = options;
  const prepared = await prepareCoordinator({
    config: {
      port: 0,
      dataDir: options.dataDir,
      rounds: options.rounds,
      minClients: options.clients,
      waitForClientsMs: WAIT_FOR_CLIENTS_MS,
      roundTimeoutMs: 300_000,
      ...(options.lingerMs !== undefined ? { lingerAfterRunMs: options.lingerMs } : {}),
      ...(options.secureAggregation ? { secureAggregation: {} } : {}),
      ...(options.epochs !== undefined
        ? {
            training: { ...DEFAULT_TRAINING, epochs: options.epochs },
          }
        : {}),
    },
    demoClients: options.clients,
    ...(options.alpha !== undefined ? { demoAlpha: options.alpha } : {}),
    ...(options.backend !== undefined ? { backend: options.backend } : {}),
    ...(options.teacherEpochs !== undefined ? { teacherEpochs: options.teacherEpochs } : {}),
    ...(options.teacherSpec !== undefined ? { teacherSpec: options.teacherSpec } : {}),
    ...(options.student !== undefined ? { student: options.student } : {}),
    log,
    ...(options.progress ? { progress: options.progress } : {}),
    onEvent: followRun({
      rounds: options.rounds,
      waitForClientsMs: WAIT_FOR_CLIENTS_MS,
      log,
      ...(options.progress ? { progress: options.progress } : {}),
    }),
  });
  const { running } = prepared;
  const main = fileURLToPath(new URL('./main.ts', import.meta.url));
  const children: ChildProcess[] = [];
  for (let i = 0; i < options.clients; i++) {
    const child = spawn(
      process.execPath,
      [
        '--import',
        import.meta.resolve('tsx'),
        main,
        'join',
        '--server',
        running.url,
        '--data',
        `demo:${i}/${options.clients}`,
        '--name',
        `demo-client-${i}`,
        '--cache-dir',
        join(options.dataDir, `client-${i}-cache`),
        ...(options.alpha !== undefined ? ['--demo-alpha', String(options.alpha)] : []),
        ...(options.backend !== undefined ? ['--backend', options.backend] : []),
        // JSON lines, read back below and logged through this process's logger.
        '--log-format',
        'json',
        '--log-level',
        options.logLevel ?? 'info',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr?.setEncoding('utf8');
    const clientLog: Log = options.logger
      ? (message, level = 'info') =>
          options.logger!.child({ component: `client ${i}` })[level](message)
      : (message, level) => log(`client ${i}: ${message}`, level);
    let tail: string[] = [];
    let partial = '';
    child.stderr?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const raw of lines) {
        if (!raw) continue;
        const { level, message } = parseLogLine(raw);
        tail = [...tail, message].slice(-20);
        if (options.verbose || level === 'warn' || level === 'error') clientLog(message, level);
      }
    });
    child.on('exit', (code) => {
      if (code !== 0 && code !== null)
        log(
          `client ${i} exited with code ${code}; its last lines:\n${[...tail, partial].join('\n')}`,
          'error',
        );
      // With every client gone no round can start: end the run instead of waiting forever.
      if (
        children.every((c) => c.exitCode !== null || c.signalCode !== null) &&
        !running.coordinator.finished
      ) {
        log('every client process has exited; stopping the run', 'warn');
        running.coordinator.stop();
      }
    });
    children.push(child);
  }
  log(`started ${options.clients} client processes`);
  try {
    const { summary } = await runAndSummarize(
      prepared,
      join(options.dataDir, 'summary.json'),
      options.beforeResults,
    );
    await lingerAfterRun(prepared.running, log);
    return summary;
  } finally {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
            child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
    await running.close();
    prepared.teacher.dispose();
  }
}
