/**
 * The coordinator's ClientHub for a simulation: each virtual client is a
 * MessagePort (see `portTransport.ts` for the other end), wherever the client
 * runs. Artifacts are answered from the run's ArtifactStore by message.
 *
 * Updates of a round are held back until every client sampled in it has sent
 * one, then handed to the coordinator in client-id order: clients finish in
 * whatever order the threads schedule them, and a floating-point sum depends
 * on the order of its terms, so this is what makes a seeded simulation give
 * the same numbers bit for bit.
 */
import type { MessagePort } from 'node:worker_threads';
import type { ClientHub, ClientLink } from '../server/clientHub.js';
import type { ClientToServerEvents, ServerToClientEvents } from '../shared/protocol/index.js';
import type { ClientPortMessage, HubPortMessage } from './messages.js';

type Handler = (...args: unknown[]) => void;

interface HeldUpdate {
  clientId: string;
  deliver: () => void;
}

interface RoundOrder {
  expected: Set<PortLink>;
  held: HeldUpdate[];
}

export interface SimHubOptions {
  /** Bytes of an artifact by content hash (the run's `ArtifactStore.get`). */
  artifact: (hash: string) => Uint8Array | undefined;
  /** Hand updates over in client-id order per round (see above). Defaults to true. */
  orderUpdates?: boolean;
  /** Sees every event both ways (tests, debugging); payloads are the hub's copies. Defaults to none. */
  tap?: (message: TappedMessage) => void;
}

export interface TappedMessage {
  /** `down`: coordinator → client; `up`: client → coordinator. */
  direction: 'down' | 'up';
  clientId: string | undefined;
  event: string;
  payload: unknown;
}

class PortLink implements ClientLink {
  clientId: string | undefined;
  readonly handlers = new Map<string, Handler>();
  private readonly disconnectHandlers: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly hub: SimHub,
    readonly port: MessagePort,
  ) {
    port.on('message', (message: ClientPortMessage) => this.onMessage(message));
    port.on('close', () => this.onClosed());
  }

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
    if (event === 'round:start') this.hub.noteSampled(this, args[0] as { roundId: number });
    this.hub.tap({ direction: 'down', clientId: this.clientId, event, payload: args[0] });
    this.post({ kind: 'event', event, args });
  }

  disconnect(): void {
    if (this.closed) return;
    this.post({ kind: 'disconnect', reason: 'closed by the coordinator' });
    this.onClosed();
  }

  post(message: HubPortMessage): void {
    if (!this.closed) this.port.postMessage(message);
  }

  private onMessage(message: ClientPortMessage): void {
    if (message.kind === 'close') {
      this.onClosed();
      return;
    }
    if (message.kind === 'artifact') {
      const bytes = this.hub.artifact(message.hash);
      this.post(
        bytes
          ? { kind: 'artifact', requestId: message.requestId, bytes }
          : {
              kind: 'artifact',
              requestId: message.requestId,
              error: `no artifact ${message.hash}`,
            },
      );
      return;
    }
    this.hub.tap({
      direction: 'up',
      clientId: this.clientId,
      event: message.event,
      payload: message.args[0],
    });
    const handler = this.handlers.get(message.event);
    if (!handler) return;
    const { ackId } = message;
    const ack =
      ackId === undefined
        ? undefined
        : (response: unknown) => this.post({ kind: 'ack', ackId, response });
    const deliver = () => handler(...message.args, ...(ack ? [ack] : []));
    if (message.event === 'update') this.hub.holdUpdate(this, message.args[0], deliver);
    else deliver();
  }

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.port.close();
    this.hub.forget(this);
    for (const handler of this.disconnectHandlers) handler();
  }
}

export class SimHub implements ClientHub {
  private connectionHandler: ((link: ClientLink) => void) | undefined;
  private readonly links = new Set<PortLink>();
  private readonly rounds = new Map<number, RoundOrder>();
  private readonly orderUpdates: boolean;

  constructor(private readonly options: SimHubOptions) {
    this.orderUpdates = options.orderUpdates ?? true;
  }

  onConnection(handler: (link: ClientLink) => void): void {
    this.connectionHandler = handler;
  }

  /** Connects a virtual client whose transport holds the other end of `port`. */
  attach(port: MessagePort): void {
    if (!this.connectionHandler) throw new Error('SimHub: no coordinator is listening yet');
    const link = new PortLink(this, port);
    this.links.add(link);
    this.connectionHandler(link);
  }

  broadcast<E extends keyof ServerToClientEvents>(
    event: E,
    ...args: Parameters<ServerToClientEvents[E]>
  ): void {
    for (const link of this.links) link.emit(event, ...args);
  }

  /** Disconnects every client (end of a run). */
  close(): void {
    for (const link of [...this.links]) link.disconnect();
  }

  /** @internal */
  tap(message: TappedMessage): void {
    this.options.tap?.(message);
  }

  /** @internal */
  artifact(hash: string): Uint8Array | undefined {
    return this.options.artifact(hash);
  }

  /** @internal A round:start went to `link`: its update for that round will be waited for. */
  noteSampled(link: PortLink, round: { roundId: number }): void {
    if (!this.orderUpdates) return;
    let order = this.rounds.get(round.roundId);
    if (!order) {
      order = { expected: new Set(), held: [] };
      this.rounds.set(round.roundId, order);
    }
    order.expected.add(link);
  }

  /** @internal */
  holdUpdate(link: PortLink, update: unknown, deliver: () => void): void {
    const roundId =
      typeof update === 'object' && update !== null
        ? (update as { roundId?: unknown }).roundId
        : undefined;
    const order = typeof roundId === 'number' ? this.rounds.get(roundId) : undefined;
    if (!order || !order.expected.has(link)) {
      deliver();
      return;
    }
    order.expected.delete(link);
    order.held.push({ clientId: link.clientId ?? '', deliver });
    this.release(roundId as number, order);
  }

  /** @internal */
  forget(link: PortLink): void {
    this.links.delete(link);
    for (const [roundId, order] of this.rounds) {
      if (order.expected.delete(link)) this.release(roundId, order);
    }
  }

  private release(roundId: number, order: RoundOrder): void {
    if (order.expected.size > 0) return;
    this.rounds.delete(roundId);
    const held = order.held.sort((a, b) =>
      a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0,
    );
    for (const update of held) update.deliver();
  }
}
