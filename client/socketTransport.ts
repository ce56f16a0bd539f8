/**
 * FedTransport over socket.io-client, for Node and browsers alike: msgpackr
 * frames for control and updates, HTTP GET (with the artifact's hash as ETag)
 * for the large static proxy inputs and soft labels.
 */
import { io, type Socket } from 'socket.io-client';
import { createSocketParser } from '../shared/codec/index.js';
import type {
  AbstainMessage,
  AbstainResponse,
  ArtifactRef,
  ClientToServerEvents,
  JoinRequest,
  JoinResponse,
  SecAggUp,
  ServerToClientEvents,
  UpdateMessage,
  UpdateResponse,
} from '../shared/protocol/index.js';
import { PROTOCOL_VERSION } from '../shared/protocol/index.js';
import type { FedTransport, TransportHandlers } from './transport.js';
import { RefusedError } from './transport.js';

export interface SocketTransportOptions {
  /** Coordinator base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  token?: string;
  /** Protocol version to announce; tests set a wrong one on purpose. Defaults to PROTOCOL_VERSION. */
  protocolVersion?: number;
  /** How long an acked request may take. Defaults to 60 s. */
  ackTimeoutMs?: number;
  /** Longest pause between reconnection attempts. Defaults to 5 s. */
  maxReconnectDelayMs?: number;
  /**
   * How long an artifact download keeps retrying a coordinator that is unreachable or answers
   * 5xx (it may be restarting: artifacts are content-addressed, so a retry gets the same bytes).
   * Defaults to 120 s.
   */
  artifactRetryMs?: number;
}

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** Bounds on the wait a `rate-limited` refusal asks for: a broken or hostile value cannot stall the client forever. */
const MIN_RETRY_MS = 250;
const MAX_RETRY_MS = 15 * 60_000;

/** How long to wait after a `rate-limited` refusal: what the coordinator said, plus up to 20% so a NAT's clients do not return at once. */
function retryDelay(data: { retryAfterMs?: unknown }, fallbackMs: number): number {
  const asked =
    typeof data.retryAfterMs === 'number' && Number.isFinite(data.retryAfterMs)
      ? data.retryAfterMs
      : fallbackMs;
  const bounded = Math.min(MAX_RETRY_MS, Math.max(MIN_RETRY_MS, asked));
  return Math.round(bounded * (1 + 0.2 * Math.random()));
}

export class SocketTransport implements FedTransport {
  private socket: ClientSocket | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(private readonly options: SocketTransportOptions) {}

  get connected(): boolean {
    return this.socket?.connected ?? false;
  }

  connect(handlers: TransportHandlers): Promise<void> {
    const socket: ClientSocket = io(this.options.url, {
      parser: createSocketParser(),
      auth: {
        protocolVersion: this.options.protocolVersion ?? PROTOCOL_VERSION,
        ...(this.options.token !== undefined ? { token: this.options.token } : {}),
      },
      transports: ['websocket'],
      reconnectionDelay: 250,
      reconnectionDelayMax: this.options.maxReconnectDelayMs ?? 5000,
      randomizationFactor: 0.5,
    });
    this.socket = socket;
    socket.on('round:start', (round) => handlers.roundStart(round));
    socket.on('round:end', (summary) => handlers.roundEnd(summary));
    socket.on('run:end', (summary) => handlers.runEnd(summary));
    socket.on('secagg', (message) => handlers.secAgg(message));
    return new Promise((resolve, reject) => {
      let first = true;
      socket.on('connect', () => {
        if (first) {
          first = false;
          resolve();
        } else {
          handlers.reconnected();
        }
      });
      socket.on('disconnect', (reason) => handlers.disconnected(reason));
      socket.on(
        'connect_error',
        (error: Error & { data?: { code?: string; retryAfterMs?: unknown } }) => {
          // socket.io never retries a refusal from the coordinator's middleware. A rate limit
          // (a cut-off peer shares this client's address) ends by itself: retry when it says.
          if (error.data?.code === 'rate-limited') {
            const delay = retryDelay(error.data, this.options.maxReconnectDelayMs ?? 5000);
            clearTimeout(this.retryTimer);
            this.retryTimer = setTimeout(() => {
              this.retryTimer = undefined;
              if (this.socket === socket && !this.closed) socket.connect();
            }, delay);
            handlers.disconnected(
              `rate-limited: ${error.message} (retrying in ${Math.ceil(delay / 1000)} s)`,
            );
            return;
          }
          // Any other refusal would be repeated: give up.
          if (!error.data?.code) return;
          socket.close();
          const refused = new RefusedError(error.message, error.data.code);
          if (first) reject(refused);
          else handlers.disconnected(`refused: ${error.message}`);
        },
      );
    });
  }

  private get live(): ClientSocket {
    if (!this.socket) throw new Error('transport is not connected: call connect() first');
    return this.socket;
  }

  join(request: JoinRequest): Promise<JoinResponse> {
    return this.live.timeout(this.options.ackTimeoutMs ?? 60_000).emitWithAck('join', request);
  }

  sendUpdate(update: UpdateMessage): Promise<UpdateResponse> {
    return this.live.timeout(this.options.ackTimeoutMs ?? 60_000).emitWithAck('update', update);
  }

  sendSecAgg(message: SecAggUp): Promise<UpdateResponse> {
    return this.live.timeout(this.options.ackTimeoutMs ?? 60_000).emitWithAck('secagg', message);
  }

  /** Tells the coordinator this client takes no part in the run (docs/protocol.md, `abstain`). */
  abstain(message: AbstainMessage): Promise<AbstainResponse> {
    // Best effort on the way out: a coordinator that does not know the event never answers.
    return this.live
      .timeout(Math.min(5_000, this.options.ackTimeoutMs ?? 60_000))
      .emitWithAck('abstain', message);
  }

  /**
   * GETs an artifact, retrying with backoff (250 ms doubling to 5 s) while the coordinator is
   * unreachable, answers 5xx or 429, or the body breaks off — a coordinator killed and resumed
   * between a client's join and its download serves the same bytes again. A 4xx other than 429
   * or a body of the wrong size fails at once.
   */
  async fetchArtifact(ref: ArtifactRef): Promise<Uint8Array> {
    const url = new URL(ref.url, this.options.url);
    const deadline = Date.now() + (this.options.artifactRetryMs ?? 120_000);
    let delay = 250;
    for (let attempt = 1; ; attempt++) {
      let cause: string;
      try {
        const response = await fetch(url, {
          headers: this.options.token ? { authorization: `Bearer ${this.options.token}` } : {},
        });
        if (response.ok) {
          const bytes = new Uint8Array(await response.arrayBuffer());
          if (bytes.byteLength !== ref.bytes) {
            throw new ArtifactSizeError(
              `artifact ${ref.hash} is ${bytes.byteLength} bytes, expected ${ref.bytes}`,
            );
          }
          return bytes;
        }
        await response.body?.cancel();
        cause = `${response.status} ${response.statusText}`;
        if (response.status < 500 && response.status !== 429)
          throw new Error(`GET ${url.pathname} failed: ${cause}`);
      } catch (error) {
        if (!(error instanceof TypeError)) throw error;
        // fetch rejects with a TypeError for network failures (refused, reset, body cut off).
        const reason = (error as TypeError & { cause?: { code?: string } }).cause?.code;
        cause = reason ?? error.message;
      }
      if (this.closed || Date.now() + delay > deadline)
        throw new Error(`GET ${url.pathname} failed after ${attempt} attempts: ${cause}`);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(5_000, delay * 2);
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.socket?.close();
  }
}

/** A downloaded artifact whose size is not the one its reference names: never retried. */
class ArtifactSizeError extends Error {
  override readonly name = 'ArtifactSizeError';
}
