/**
 * What travels between the simulation's hub (main thread, beside the
 * coordinator) and its virtual clients (worker threads, or the main thread
 * itself). Each client gets its own MessageChannel: the hub holds one port,
 * the client's `PortTransport` the other. Payloads pass by structured clone
 * (typed arrays stay typed arrays, copied), so a virtual client sees exactly
 * the values a remote one would decode, and nothing is shared by reference.
 */
import type { MessagePort } from 'node:worker_threads';
import type { LabeledData } from '../shared/data/types.js';
import type { ModelSpec } from '../shared/models/index.js';
import type { FedClientEvent } from '../client/fedClient.js';

/** Client → hub, over the client's own port. */
export type ClientPortMessage =
  /** A socket.io-style event; `ackId` set when the sender awaits an answer. */
  | { kind: 'emit'; event: string; args: unknown[]; ackId?: number }
  /** Fetch an artifact (proxy inputs, soft labels) by content hash. */
  | { kind: 'artifact'; requestId: number; hash: string }
  /** The client closed its side. */
  | { kind: 'close' };

/** Hub → client, over the client's own port. */
export type HubPortMessage =
  | { kind: 'event'; event: string; args: unknown[] }
  | { kind: 'ack'; ackId: number; response: unknown }
  | { kind: 'artifact'; requestId: number; bytes?: Uint8Array; error?: string }
  /** The coordinator closed the connection. */
  | { kind: 'disconnect'; reason: string };

/** One virtual client to start in a host. The port is transferred, not cloned. */
export interface VirtualClientStart {
  /** 0-based index of the client in the simulation (its data shard). */
  index: number;
  clientId: string;
  name: string;
  port: MessagePort;
  /** This client's own student architecture (heterogeneous logit-exchange runs). */
  studentSpec?: ModelSpec;
  /** FedClient's seed (initial weights, batch order), so every strategy repeats exactly. */
  seed: number;
  /** The latency model: each update reaches the coordinator this much later (a slow client). */
  updateDelayMs?: number;
}

/** Main thread → worker. */
export type WorkerCommand =
  /**
   * Private data of the clients this worker will host, sent once per partition; and the
   * held-out set each client reports its own model's accuracy on (one copy per worker).
   */
  | { type: 'data'; shards: { index: number; data: LabeledData }[]; validation?: LabeledData }
  /** Start FedClients for one coordinator run. */
  | { type: 'start'; session: number; clients: VirtualClientStart[] }
  /** Stop the session's clients (after run:end, or on abort). */
  | { type: 'stop'; session: number }
  | { type: 'exit' };

/** Worker → main thread. */
export type WorkerReport =
  | { type: 'ready'; backend: string }
  | { type: 'client-event'; session: number; index: number; event: FedClientEvent }
  /** A client of the session failed to start (join refused, artifact mismatch…). */
  | { type: 'client-failed'; session: number; index: number; message: string }
  | { type: 'fatal'; message: string };
