/**
 * A ClientHub held in memory for unit tests of the coordinator: each link is a
 * scripted client whose messages go straight to the coordinator's handlers and
 * whose acks and received events are kept, so a test drives a round message by
 * message without sockets or processes.
 */
import type { ClientHub, ClientLink } from '../../server/clientHub.js';
import type { ClientToServerEvents, ServerToClientEvents } from '../../shared/protocol/index.js';

type Handler = (...args: unknown[]) => void;

export interface Received {
  event: keyof ServerToClientEvents;
  payload: unknown;
}

export class MemoryLink implements ClientLink {
  clientId: string | undefined;
  readonly received: Received[] = [];
  private readonly handlers = new Map<string, Handler>();
  private readonly disconnectHandlers: (() => void)[] = [];
  private waiters: (() => void)[] = [];
  closed = false;

  constructor(private readonly hub: MemoryHub) {}

  on<E extends keyof ClientToServerEvents>(event: E, handler: ClientToServerEvents[E]): void {
    this.handlers.set(event, handler as Handler);
  }

  onDisconnect(handler: () => void): void {
    this.disconnectHandlers.push(handler);
  }

  emit<E extends keyof ServerToClientEvents>(
    event: E,
    ...args: Parameters<ServerToClientEvents[E]>
  ): void {
    if (this.closed) return;
    this.received.push({ event, payload: args[0] });
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  disconnect(): void {
    this.close();
  }

  /** Sends `event` with `payload` as the client; returns the coordinator's ack. */
  send(event: keyof ClientToServerEvents, payload: unknown): unknown {
    const handler = this.handlers.get(event);
    if (!handler) throw new Error(`no handler for ${event}`);
    let response: unknown;
    handler(payload, (r: unknown) => (response = r));
    return response;
  }

  /** Sends `event` with `payload`; resolves with the ack whenever it comes (it may come later). */
  sendLater(event: keyof ClientToServerEvents, payload: unknown): Promise<unknown> {
    const handler = this.handlers.get(event);
    if (!handler) throw new Error(`no handler for ${event}`);
    return new Promise((resolve) => handler(payload, resolve));
  }

  /** Resolves with the first received `event` matching `where` (waiting for it if need be). */
  async next<T>(
    event: keyof ServerToClientEvents,
    where: (payload: T) => boolean = () => true,
  ): Promise<T> {
    for (;;) {
      const found = this.received.find((r) => r.event === event && where(r.payload as T));
      if (found) return found.payload as T;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.hub.forget(this);
    for (const handler of this.disconnectHandlers) handler();
  }
}

export class MemoryHub implements ClientHub {
  private handler: ((link: ClientLink) => void) | undefined;
  private readonly links = new Set<MemoryLink>();

  onConnection(handler: (link: ClientLink) => void): void {
    this.handler = handler;
  }

  /** A new connection, handed to the coordinator. */
  connect(): MemoryLink {
    const link = new MemoryLink(this);
    this.links.add(link);
    this.handler?.(link);
    return link;
  }

  forget(link: MemoryLink): void {
    this.links.delete(link);
  }

  broadcast<E extends keyof ServerToClientEvents>(
    event: E,
    ...args: Parameters<ServerToClientEvents[E]>
  ): void {
    for (const link of this.links) link.emit(event, ...args);
  }
}
