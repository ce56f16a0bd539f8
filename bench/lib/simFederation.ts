/**
 * What the scale sections share: a coordinator's small random teacher and
 * synthetic data (the simulated clients train nothing, they send a fixed
 * delta), driver processes of simulated clients (simClients.ts), waiting for a
 * condition, and stopping child processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import type { CoordinatorData } from '../../server/startCoordinator.js';
import { teacherFromForward } from '../../server/teachers/index.js';
import type { Teacher } from '../../server/teachers/index.js';
import { fillRandom } from './common.js';

/** Input features of the scale runs' models (the student is mlp 64-16-10). */
export const SCALE_FEATURES = 64;
export const SCALE_CLASSES = 10;

/** A random linear teacher: the coordinator needs one, the simulated clients never use it. */
export function scaleTeacher(): Teacher {
  const kernel = tf.tensor2d(fillRandom(new Float32Array(SCALE_FEATURES * SCALE_CLASSES), 5, 1), [
    SCALE_FEATURES,
    SCALE_CLASSES,
  ]);
  return teacherFromForward({
    description: 'random linear teacher (scale benchmark)',
    numParams: kernel.size,
    hash: 'scale-bench-teacher',
    inputShape: [SCALE_FEATURES],
    numClasses: SCALE_CLASSES,
    outputs: 'logits',
    forward: (x) => tf.matMul(x as tf.Tensor2D, kernel),
    dispose: () => kernel.dispose(),
  });
}

function synthetic(count: number, seed: number) {
  const x = fillRandom(new Float32Array(count * SCALE_FEATURES), seed, 0.5).map((v) => v + 0.5);
  const y = new Int32Array(count).map((_, i) => i % SCALE_CLASSES);
  return { x, y, count };
}

/** A small proxy set and test split of synthetic inputs. */
export function scaleData(): CoordinatorData {
  return {
    proxy: { x: synthetic(64, 1).x, count: 64, featureShape: [SCALE_FEATURES] },
    test: synthetic(256, 2),
  };
}

/** Polls `check` every 20 ms; rejects after `timeoutMs`, or at once when `problem` says something went wrong. */
export function waitFor(
  check: () => boolean,
  timeoutMs: number,
  what: string,
  problem: () => string | undefined = () => undefined,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const timer = setInterval(() => {
      const wrong = problem();
      if (wrong !== undefined) {
        clearInterval(timer);
        reject(new Error(`waiting for ${what}: ${wrong}`));
      } else if (check()) {
        clearInterval(timer);
        resolve();
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(timer);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }
    }, 20);
  });
}

/** Resolves once `child` has exited: `signal` first, SIGKILL after `graceMs`. */
export function stopProcess(
  child: ChildProcess,
  signal: NodeJS.Signals | undefined = 'SIGTERM',
  graceMs = 5000,
): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    if (signal) child.kill(signal);
  });
}

export interface SimClientTarget {
  /** The socket.io server the connections open to (a coordinator or an edge). */
  url: string;
  /** Connections to open there. */
  connections: number;
  /** Driver processes they are spread over. */
  processes: number;
}

export interface SimClientDrivers {
  readonly children: ChildProcess[];
  /** Updates the drivers saw acked. */
  answered(): number;
  /** A driver that exited with a failure, described; undefined while none has. */
  problem(): string | undefined;
  /** Closes the drivers' stdin (they close their sockets and exit), then waits for them. */
  stop(): Promise<void>;
}

const SIM_CLIENTS = fileURLToPath(new URL('./simClients.ts', import.meta.url));

/**
 * Starts driver processes of simulated clients (simClients.ts): each opens its
 * share of a target's connections and joins each as a client, answers every
 * round:start with a fixed int8 delta, and exits on run:end or after `timeoutMs`.
 */
export function startSimClients(
  targets: readonly SimClientTarget[],
  timeoutMs: number,
  tag: string,
): SimClientDrivers {
  const children: ChildProcess[] = [];
  let answered = 0;
  let problem: string | undefined;
  let worker = 0;
  for (const target of targets) {
    for (let p = 0; p < target.processes; p++) {
      const share =
        Math.floor(target.connections / target.processes) +
        (p < target.connections % target.processes ? 1 : 0);
      const name = `${tag}-${worker++}`;
      const child = spawn(process.execPath, ['--import', 'tsx', SIM_CLIENTS], {
        env: {
          ...process.env,
          FEDISTILL_SCALE_URL: target.url,
          FEDISTILL_SCALE_COUNT: String(share),
          FEDISTILL_SCALE_WORKER: name,
          FEDISTILL_SCALE_TIMEOUT_MS: String(timeoutMs),
        },
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      children.push(child);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.startsWith('answered')) answered++;
      });
      child.once('exit', (code, signal) => {
        if (code !== 0 && problem === undefined)
          problem = `simulated-client driver ${name} (${share} connections to ${target.url}) exited with ${signal ?? `code ${code}`}`;
      });
    }
  }
  return {
    children,
    answered: () => answered,
    problem: () => problem,
    async stop() {
      for (const child of children) child.stdin?.end();
      await Promise.all(children.map((child) => stopProcess(child, undefined)));
    },
  };
}
