/**
 * The processes of an edge topology for tests: `fedistill edge` processes on
 * port 0 (their URL read from their output), `fedistill join` clients on the
 * embedded MNIST split, and small waits on HTTP and output. Shared by the
 * tests where Redis or the master fails under edges.
 */
import { runCli, type CliProcess } from './processes.js';

export interface EdgeProcess {
  readonly id: string;
  readonly cli: CliProcess;
  readonly url: string;
  readonly port: number;
}

/** The URL an edge prints once it listens; throws if it exits first. */
export async function edgeUrl(edge: CliProcess): Promise<string> {
  for (let i = 0; i < 1200; i++) {
    const found = /^edge \S+ listening on (http:\/\/[^\s,]+)$/m.exec(edge.output());
    if (found) return found[1]!;
    if (edge.child.exitCode !== null) throw new Error(`edge exited:\n${edge.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`edge did not start:\n${edge.output()}`);
}

/**
 * Starts `fedistill edge --id <id>` on a free port against `redis`; the secret comes from
 * FEDISTILL_EDGE_SECRET in this process's environment. Resolves once it listens.
 */
export async function startEdgeProcess(
  redis: string,
  id: string,
  extraArgs: readonly string[] = [],
): Promise<EdgeProcess> {
  const cli = runCli(['edge', '--redis', redis, '--id', id, '--port', '0', ...extraArgs], 900_000);
  const url = await edgeUrl(cli);
  return { id, cli, url, port: Number(new URL(url).port) };
}

/** A `fedistill join` client on shard `index` of `of` of the embedded split, at `server`. */
export function joinClient(options: {
  server: string;
  index: number;
  of: number;
  /** Its artifact cache: a fresh folder per client. */
  cacheDir: string;
  name?: string;
}): CliProcess {
  return runCli(
    [
      'join',
      ...(options.name !== undefined ? ['--name', options.name] : []),
      '--server',
      options.server,
      '--data',
      `demo:${options.index}/${options.of}`,
      '--backend',
      'wasm',
      '--cache-dir',
      options.cacheDir,
      // A loaded machine may take long to bring a restarted master up: keep trying.
      '--connect-timeout',
      '600',
    ],
    900_000,
  );
}

/** Polls `probe` every 100 ms until it returns a value other than undefined. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 300_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** GET `url` as JSON. */
export async function getJson(url: string): Promise<unknown> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return response.json();
}
