/**
 * A FedTransport over a MessagePort: what a virtual client uses instead of
 * socket.io. The other end is the hub's `ClientLink` for this client
 * (`simHub.ts`), in the main thread; the client may live in a worker thread
 * or in the main thread itself — the port works the same either way.
 */
import type { MessagePort } from 'node:worker_threads';
import type { FedTransport, TransportHandlers } from '../client/transport.js';
import type {
  ArtifactRef,
  JoinRequest,
  JoinResponse,
  RoundEnd,
  RoundStart,
  RunEnd,
  SecAggDown,
  SecAggUp,
  UpdateMessage,
  UpdateResponse,
} from '../shared/protocol/index.js';
import type { ClientPortMessage, HubPortMessage } from './messages.js';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export class PortTransport implements FedTransport {
  private handlers: TransportHandlers | undefined;
  private open = false;
  private nextId = 1;
  private readonly acks = new Map<number, Pending>();
  private readonly artifacts = new Map<number, Pending>();
  /** Updates held back by the latency model, cut short when the transport shuts. */
  private readonly delayed = new Map<ReturnType<typeof setTimeout>, Pending>();

  /** @param options.updateDelayMs each update is sent this much later: the latency model's slow client. */
  constructor(
    private readonly port: MessagePort,
    private readonly options: { updateDelayMs?: number } = {},
  ) {}

  get connected(): boolean {
    return this.open;
  }

  connect(handlers: TransportHandlers): Promise<void> {
    this.handlers = handlers;
    this.port.on('message', (message: HubPortMessage) => this.onMessage(message));
    this.open = true;
    return Promise.resolve();
  }

  private onMessage(message: HubPortMessage): void {
    switch (message.kind) {
      case 'event':
        this.dispatch(message.event, message.args);
        return;
      case 'ack': {
        const pending = this.acks.get(message.ackId);
        this.acks.delete(message.ackId);
        pending?.resolve(message.response);
        return;
      }
      case 'artifact': {
        const pending = this.artifacts.get(message.requestId);
        this.artifacts.delete(message.requestId);
        if (message.bytes) pending?.resolve(message.bytes);
        else pending?.reject(new Error(message.error ?? 'artifact unavailable'));
        return;
      }
      case 'disconnect':
        this.shut(message.reason);
        return;
    }
  }

  /** Server → client events, mapped onto the FedClient's handlers as the socket transport does. */
  private dispatch(event: string, args: unknown[]): void {
    const handlers = this.handlers;
    if (!handlers) return;
    const [payload] = args;
    if (event === 'round:start') handlers.roundStart(payload as RoundStart);
    else if (event === 'round:end') handlers.roundEnd(payload as RoundEnd);
    else if (event === 'run:end') handlers.runEnd(payload as RunEnd);
    else if (event === 'secagg') handlers.secAgg(payload as SecAggDown);
  }

  private post(message: ClientPortMessage): void {
    this.port.postMessage(message);
  }

  private emitWithAck<T>(event: string, payload: unknown): Promise<T> {
    if (!this.open) return Promise.reject(new Error('transport is closed'));
    const ackId = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.acks.set(ackId, { resolve: resolve as (value: unknown) => void, reject });
      this.post({ kind: 'emit', event, args: [payload], ackId });
    });
  }

  join(request: JoinRequest): Promise<JoinResponse> {
    return this.emitWithAck('join', request);
  }

  async sendUpdate(update: UpdateMessage): Promise<UpdateResponse> {
    const delay = this.options.updateDelayMs ?? 0;
    if (delay > 0)
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          this.delayed.delete(timer);
          resolve(undefined);
        }, delay);
        this.delayed.set(timer, { resolve, reject });
      });
    return this.emitWithAck('update', update);
  }

  sendSecAgg(message: SecAggUp): Promise<UpdateResponse> {
    return this.emitWithAck('secagg', message);
  }

  fetchArtifact(ref: ArtifactRef): Promise<Uint8Array> {
    if (!this.open) return Promise.reject(new Error('transport is closed'));
    const requestId = this.nextId++;
    return new Promise<Uint8Array>((resolve, reject) => {
      this.artifacts.set(requestId, { resolve: resolve as (value: unknown) => void, reject });
      this.post({ kind: 'artifact', requestId, hash: ref.hash });
    });
  }

  private shut(reason: string): void {
    if (!this.open) return;
    this.open = false;
    const error = new Error(`disconnected: ${reason}`);
    for (const pending of [...this.acks.values(), ...this.artifacts.values()])
      pending.reject(error);
    for (const [timer, pending] of this.delayed) {
      clearTimeout(timer);
      pending.reject(error);
    }
    this.delayed.clear();
    this.acks.clear();
    this.artifacts.clear();
    this.port.close();
    this.handlers?.disconnected(reason);
  }

  close(): void {
    if (!this.open) return;
    this.post({ kind: 'close' });
    this.shut('closed by client');
  }
}
