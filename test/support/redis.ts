/**
 * A real `redis-server` (Debian's package) for tests: on a free loopback port,
 * with no persistence (no RDB snapshots, no AOF, nothing written to disk), so
 * a restart comes back empty, as a crashed cache without persistence would.
 * `stop()` and `start()` again keep the port, so clients configured with the
 * URL reconnect to the new server by themselves ("Redis restarted" tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { freePort } from './ports.js';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Starts the server (again) on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it (SIGTERM, then SIGKILL after 5 s); resolves once the process has exited. */
  stop(): Promise<void>;
  /** Everything redis-server printed, for failure messages. */
  output(): string;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts a redis-server; call `stop()` when done (in a `finally` or `after`). */
export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  let log = '';
  let exited: Promise<void> = Promise.resolve();
  const redis: TestRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    output: () => log,
    async start() {
      if (child && child.exitCode === null) throw new Error('redis-server is already running');
      const proc = spawn(
        REDIS_SERVER,
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--daemonize',
          'no',
          '--protected-mode',
          'yes',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child = proc;
      proc.stdout?.setEncoding('utf8');
      proc.stderr?.setEncoding('utf8');
      proc.stdout?.on('data', (chunk: string) => (log += chunk));
      proc.stderr?.on('data', (chunk: string) => (log += chunk));
      let spawnError: Error | undefined;
      exited = new Promise<void>((resolve) => {
        proc.once('error', (error) => {
          spawnError = error;
          resolve();
        });
        proc.once('exit', () => resolve());
      });
      for (let attempt = 0; attempt < 200; attempt++) {
        if (spawnError) throw new Error(`cannot start ${REDIS_SERVER}: ${spawnError.message}`);
        if (proc.exitCode !== null)
          throw new Error(`redis-server exited with code ${proc.exitCode}:\n${log}`);
        if (await accepts(port)) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      proc.kill('SIGKILL');
      throw new Error(`redis-server did not accept connections on port ${port}:\n${log}`);
    },
    async stop() {
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const force = setTimeout(() => proc.kill('SIGKILL'), 5000);
      proc.kill('SIGTERM');
      await exited;
      clearTimeout(force);
    },
  };
  await redis.start();
  return redis;
}
