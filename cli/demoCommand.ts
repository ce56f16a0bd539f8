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
import { roundLine } from './roundLine.js';
import type { Log } from './consoleLog.js';

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
  /** Show every client's log lines. */
  verbose: boolean;
  /** Aggregate with secure aggregation (defaults otherwise). */
  secureAggregation?: boolean;
  /** Keep the dashboard up this long after the run (ms or 'forever'). Defaults to 0. */
  lingerMs?: number | 'forever';
  log: Log;
  /** Print progress bars (off when not a terminal). */
  progress: boolean;
}

export async function runDemo(options: DemoOptions): Promise<RunSummary> {
  const { log } = options;
  const prepared = await prepareCoordinator({
    config: {
      port: 0,
      dataDir: options.dataDir,
      rounds: options.rounds,
      minClients: options.clients,
      waitForClientsMs: 120_000,
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
    progress: options.progress,
    onEvent: (event) => {
      const line = roundLine(event, options.rounds);
      if (line) log(line);
    },
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
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr?.setEncoding('utf8');
    let tail = '';
    child.stderr?.on('data', (chunk: string) => {
      tail = (tail + chunk).slice(-4000);
      if (options.verbose)
        for (const line of chunk.split('\n'))
          if (line) process.stderr.write(`[client ${i}] ${line}\n`);
    });
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) log(`client ${i} exited with code ${code}:\n${tail}`);
      // With every client gone no round can start: end the run instead of waiting forever.
      if (
        children.every((c) => c.exitCode !== null || c.signalCode !== null) &&
        !running.coordinator.finished
      ) {
        log('every client process has exited; stopping the run');
        running.coordinator.stop();
      }
    });
    children.push(child);
  }
  log(`started ${options.clients} client processes`);
  try {
    const { summary } = await runAndSummarize(prepared, join(options.dataDir, 'summary.json'));
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
