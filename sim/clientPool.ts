/**
 * Where a simulation's virtual clients run: `threads` worker threads (one per
 * core by default; wasm is single-threaded, so this is what spreads local
 * training over the machine), or the main thread when `threads` is 0.
 *
 * Client i always lives on host i mod threads, so a run is laid out the same
 * way every time. Each client gets a MessageChannel: the hub keeps one port,
 * the client's transport the other (transferred to its worker).
 */
import { availableParallelism } from 'node:os';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { TransferListItem } from 'node:worker_threads';
import type { LabeledData } from '../shared/data/types.js';
import type { ModelSpec } from '../shared/models/index.js';
import { selectNodeBackend } from '../node/backend.js';
import type { FedClientEvent } from '../client/fedClient.js';
import { ClientHost } from './clientHost.js';
import type { VirtualClientStart, WorkerCommand, WorkerReport } from './messages.js';
import type { SimHub } from './simHub.js';

export interface SessionClient {
  index: number;
  clientId: string;
  name: string;
  studentSpec?: ModelSpec;
  seed: number;
  /** Each update reaches the coordinator this much later (`slowClients`). */
  updateDelayMs?: number;
}

export interface SessionListener {
  onClientEvent(index: number, event: FedClientEvent): void;
  /** A client could not start or a worker died: the run cannot complete as configured. */
  onFailure(message: string): void;
}

/**
 * Where a simulation's virtual clients run: worker threads of this process (`ClientPool`) or
 * workers anywhere behind Redis (`RedisClientPool`). The coordinator and the hub are the same
 * for both; so is every number a seeded run produces.
 */
export interface SimClientPool {
  /** Backend the clients run, e.g. ['wasm', 'wasm']. */
  readonly backends: readonly string[];
  /** Where the clients run, for logs and summaries ("2 worker threads"). */
  readonly description: string;
  /** Hands each client its private shard (index = client index) and the held-out set. */
  loadShards(shards: readonly LabeledData[], validation?: LabeledData): void | Promise<void>;
  /** Connects the clients to `hub` and starts them; returns the session id to stop them with. */
  startSession(hub: SimHub, clients: readonly SessionClient[], listener: SessionListener): number;
  stopSession(session: number): void;
  close(): Promise<void>;
}

interface Host {
  post(command: WorkerCommand, transfer?: TransferListItem[]): void;
  terminate(): Promise<void>;
}

export interface ClientPoolOptions {
  /** Worker threads; 0 runs every client in the main thread. */
  threads: number;
  /** tfjs backend to force in the hosts. Defaults to the best that loads. */
  backend?: string;
}

/** Threads for `workers: auto` (one per core) capped by the number of clients. */
export function defaultThreads(clients: number): number {
  return Math.max(1, Math.min(clients, availableParallelism()));
}

/** Starts `sim/worker.ts` through tsx's loader, which Node 20 does not apply to a worker's entry by itself. */
function spawnWorker(backend: string | undefined): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./worker.ts', import.meta.url).href;
  const bootstrap =
    `import(${JSON.stringify(tsx)})` +
    `.then((api) => { api.register(); return import(${JSON.stringify(entry)}); })` +
    `.catch((error) => { require('node:worker_threads').parentPort.postMessage({ type: 'fatal', message: String(error && error.stack || error) }); });`;
  return new Worker(bootstrap, {
    eval: true,
    execArgv: [],
    workerData: backend !== undefined ? { backend } : {},
  });
}

export class ClientPool implements SimClientPool {
  private readonly hosts: Host[] = [];
  private readonly listeners = new Map<number, SessionListener>();
  private nextSession = 1;
  private closed = false;
  /** Backend each host runs, e.g. ['wasm', 'wasm']. */
  readonly backends: string[] = [];

  private constructor(readonly threads: number) {}

  get description(): string {
    return this.threads === 0 ? 'the main thread' : `${this.threads} worker threads`;
  }

  static async create(options: ClientPoolOptions): Promise<ClientPool> {
    const pool = new ClientPool(options.threads);
    if (options.threads === 0) {
      const choice = await selectNodeBackend(
        options.backend !== undefined ? { force: options.backend } : {},
      );
      const host = new ClientHost(choice.name, (report) => pool.onReport(report));
      pool.hosts.push({ post: (command) => host.handle(command), terminate: async () => {} });
      pool.backends.push(choice.name);
      return pool;
    }
    const ready: Promise<string>[] = [];
    for (let i = 0; i < options.threads; i++) {
      const worker = spawnWorker(options.backend);
      ready.push(
        new Promise<string>((resolve, reject) => {
          worker.on('message', (report: WorkerReport) => {
            if (report.type === 'ready') resolve(report.backend);
            else if (report.type === 'fatal') reject(new Error(`worker ${i}: ${report.message}`));
            pool.onReport(report);
          });
          worker.on('error', (error) => {
            reject(error);
            pool.onFatal(`worker ${i} failed: ${error.message}`);
          });
          worker.on('exit', (code) => {
            reject(new Error(`worker ${i} exited with code ${code}`));
            if (!pool.closed) pool.onFatal(`worker ${i} exited with code ${code}`);
          });
        }),
      );
      pool.hosts.push({
        post: (command, transfer) => worker.postMessage(command, transfer),
        terminate: async () => {
          await worker.terminate();
        },
      });
    }
    try {
      pool.backends.push(...(await Promise.all(ready)));
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  private onReport(report: WorkerReport): void {
    if (report.type === 'client-event') {
      this.listeners.get(report.session)?.onClientEvent(report.index, report.event);
    } else if (report.type === 'client-failed') {
      this.listeners
        .get(report.session)
        ?.onFailure(`client ${report.index} failed: ${report.message}`);
    } else if (report.type === 'fatal') {
      this.onFatal(report.message);
    }
  }

  private onFatal(message: string): void {
    for (const listener of this.listeners.values()) listener.onFailure(message);
  }

  private hostOf(index: number): Host {
    return this.hosts[index % this.hosts.length]!;
  }

  /**
   * Hands each client its private shard (index = client index), replacing earlier ones, and
   * the held-out set clients evaluate their own models on (copied once per host).
   */
  loadShards(shards: readonly LabeledData[], validation?: LabeledData): void {
    const perHost = new Map<Host, { index: number; data: LabeledData }[]>(
      this.hosts.map((host) => [host, []]),
    );
    shards.forEach((data, index) => perHost.get(this.hostOf(index))!.push({ index, data }));
    for (const [host, list] of perHost)
      host.post({ type: 'data', shards: list, ...(validation ? { validation } : {}) });
  }

  /** Connects the clients to `hub` and starts them; returns the session id to stop them with. */
  startSession(hub: SimHub, clients: readonly SessionClient[], listener: SessionListener): number {
    if (this.closed) throw new Error('client pool is closed');
    const session = this.nextSession++;
    this.listeners.set(session, listener);
    const perHost = new Map<Host, VirtualClientStart[]>();
    for (const client of clients) {
      const channel = new MessageChannel();
      hub.attach(channel.port1);
      const host = this.hostOf(client.index);
      perHost.set(host, [
        ...(perHost.get(host) ?? []),
        {
          index: client.index,
          clientId: client.clientId,
          name: client.name,
          seed: client.seed,
          port: channel.port2,
          ...(client.updateDelayMs ? { updateDelayMs: client.updateDelayMs } : {}),
          ...(client.studentSpec ? { studentSpec: client.studentSpec } : {}),
        },
      ]);
    }
    for (const [host, list] of perHost) {
      host.post(
        { type: 'start', session, clients: list },
        list.map((c) => c.port),
      );
    }
    return session;
  }

  stopSession(session: number): void {
    this.listeners.delete(session);
    for (const host of this.hosts) host.post({ type: 'stop', session });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    await Promise.all(this.hosts.map((host) => host.terminate()));
  }
}
