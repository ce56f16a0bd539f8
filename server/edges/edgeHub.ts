/**
 * The master's ClientHub for clients held by edges: each edge connection is a
 * ClientLink whose events arrive from the Redis up-stream and whose emits,
 * acks and cut-offs go down to its edge. The coordinator's membership,
 * intake and round loop treat these links as they treat sockets; only the
 * update's delta stays at the edge (edgeAggregation.ts).
 */
import type { ClientToServerEvents, ServerToClientEvents } from '../../shared/protocol/index.js';
import type { ClientHub, ClientLink } from '../clientHub.js';
import type { DownMessage, Grant, UpMessage } from './messages.js';

type Handler = (payload: unknown, ack: (response: unknown) => void) => void;

class EdgeLink implements ClientLink {
  // Not a #private field: the dashboard's telemetry wraps links in a Proxy, whose getters run
  // with the proxy as `this`.
  private joinedAs: string | undefined;
  lastMessageBytes: number | undefined;
  /** The norm the edge measured of the claim being handled (set as lastMessageBytes is). */
  claimNorm: number | undefined;
  /**
   * Norms of this connection's claims not yet answered, by request: a buffered round's claim
   * that waits for the next buffer (coordinator/asynchronousRounds.ts) is handled after its
   * dispatch, and one claim per client waits (another is refused at once).
   */
  private readonly unanswered = new Map<number, number | undefined>();
  closed = false;
  private readonly handlers = new Map<string, Handler>();
  private readonly disconnectHandlers: (() => void)[] = [];

  constructor(
    readonly edge: string,
    readonly id: string,
    private readonly hub: EdgeHub,
  ) {}

  get clientId(): string | undefined {
    return this.joinedAs;
  }

  set clientId(id: string | undefined) {
    this.joinedAs = id;
    if (id !== undefined) this.hub.bind(id, this);
  }

  on<E extends keyof ClientToServerEvents>(event: E, handler: ClientToServerEvents[E]): void {
    this.handlers.set(event, handler as unknown as Handler);
  }

  onDisconnect(handler: () => void): void {
    this.disconnectHandlers.push(handler);
  }

  emit<E extends keyof ServerToClientEvents>(
    event: E,
    ...args: Parameters<ServerToClientEvents[E]>
  ): void {
    if (this.closed) return;
    if (event === 'round:start') this.hub.sendShared(this.edge, this.id, event, args[0]);
    else this.hub.send(this.edge, { t: 'emit', link: this.id, event, payload: args });
  }

  disconnect(): void {
    this.cut(false);
  }

  /** `rejoin`: the client is not at fault (its edge was dropped), so it should connect again. */
  cut(rejoin: boolean): void {
    if (this.closed) return;
    this.hub.send(this.edge, { t: 'cut', link: this.id, ...(rejoin ? { rejoin: true } : {}) });
    this.close();
  }

  dispatch(event: string, payload: unknown, req: number, bytes: number, norm?: number): void {
    const handler = this.handlers.get(event);
    if (!handler || this.closed) return;
    this.lastMessageBytes = bytes;
    this.claimNorm = norm;
    if (event === 'update') this.unanswered.set(req, norm);
    handler(payload, (response) => {
      this.unanswered.delete(req);
      // A granted claim's ack goes even to a connection gone meanwhile: the master counted the
      // update, so the edge, which still holds the delta, must fold it.
      const grant =
        event === 'update' && (response as { ok?: unknown }).ok === true && this.clientId
          ? this.hub.takeGrant?.(this.clientId)
          : undefined;
      if (!this.closed || grant)
        this.hub.send(this.edge, {
          t: 'ack',
          link: this.id,
          req,
          response,
          ...(grant ? { grant } : {}),
        });
    });
    this.lastMessageBytes = undefined;
    this.claimNorm = undefined;
  }

  /** The norm of the claim being handled now, or of the one claim still waiting for its answer. */
  normOfClaim(): number | undefined {
    if (this.claimNorm !== undefined || this.unanswered.size !== 1) return this.claimNorm;
    return this.unanswered.values().next().value;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.hub.forget(this);
    for (const handler of this.disconnectHandlers) handler();
  }
}

export class EdgeHub implements ClientHub {
  private handler: ((link: ClientLink) => void) | undefined;
  private readonly links = new Map<string, EdgeLink>();
  private readonly byClient = new Map<string, EdgeLink>();
  private readonly lastShared = new Map<string, { payload: unknown; id: number }>();
  private nextShared = 0;
  /** Buffered rounds (edgeBuffering.ts): the grant the ack of `clientId`'s accepted claim carries. */
  takeGrant: ((clientId: string) => Grant | undefined) | undefined;

  /**
   * @param send puts a message on one edge's down-stream
   * @param edges the edges alive now (broadcasts go to each)
   */
  constructor(
    readonly send: (edge: string, message: DownMessage) => void,
    private readonly edges: () => Iterable<string>,
  ) {}

  onConnection(handler: (link: ClientLink) => void): void {
    this.handler = handler;
  }

  broadcast<E extends keyof ServerToClientEvents>(
    event: E,
    ...args: Parameters<ServerToClientEvents[E]>
  ): void {
    for (const edge of this.edges()) this.send(edge, { t: 'broadcast', event, payload: args });
  }

  /**
   * Emits `payload` to one connection, sending the payload itself to its edge only when it is not
   * the one sent last: the coordinator hands every client of a round the same round:start
   * object, so each edge receives the round's weights once, not once per client.
   */
  sendShared(edge: string, link: string, event: string, payload: unknown): void {
    let last = this.lastShared.get(edge);
    if (!last || last.payload !== payload) {
      last = { payload, id: this.nextShared++ };
      this.lastShared.set(edge, last);
      this.send(edge, { t: 'share', id: last.id, payload });
    }
    this.send(edge, { t: 'emit-shared', link, event, id: last.id });
  }

  /** The next shared emit to `edge` sends its payload again (its last may have been lost). */
  forgetShared(edge: string): void {
    this.lastShared.delete(edge);
  }

  /** The edge whose connection holds `clientId` now, if one does. */
  edgeOf(clientId: string): string | undefined {
    return this.byClient.get(clientId)?.edge;
  }

  /** The norm the edge measured of the claim `clientId`'s connection is handing in now. */
  claimNormOf(clientId: string): number | undefined {
    return this.byClient.get(clientId)?.normOfClaim();
  }

  /** A verified message from `edge` about its connections. */
  receive(edge: string, message: UpMessage): void {
    if (message.t === 'connect') this.linkOf(edge, message.link);
    else if (message.t === 'event')
      // A connection the master has not seen opening (it started after the edge's client
      // connected) is one all the same.
      this.linkOf(edge, message.link).dispatch(
        message.event,
        message.payload,
        message.req,
        message.bytes,
        message.norm,
      );
    else if (message.t === 'gone') this.links.get(`${edge}/${message.link}`)?.close();
  }

  private linkOf(edge: string, id: string): EdgeLink {
    const key = `${edge}/${id}`;
    let link = this.links.get(key);
    if (!link) {
      link = new EdgeLink(edge, id, this);
      this.links.set(key, link);
      this.handler?.(link);
    }
    return link;
  }

  /**
   * An edge has gone silent (or restarted): every connection it held is gone here, and each is
   * cut at the edge too, should the edge still be there, so its clients reconnect and join
   * again instead of waiting, connected, for a round the master will never sample them for.
   */
  dropEdge(edge: string): void {
    this.lastShared.delete(edge);
    for (const link of [...this.links.values()]) if (link.edge === edge) link.cut(true);
  }

  bind(clientId: string, link: EdgeLink): void {
    this.byClient.set(clientId, link);
  }

  forget(link: EdgeLink): void {
    this.links.delete(`${link.edge}/${link.id}`);
    if (link.clientId !== undefined && this.byClient.get(link.clientId) === link)
      this.byClient.delete(link.clientId);
  }
}

/** Several hubs as one: the master's own sockets beside the edges' connections. */
export function combineHubs(...hubs: ClientHub[]): ClientHub {
  return {
    onConnection: (handler) => {
      for (const hub of hubs) hub.onConnection(handler);
    },
    broadcast: (event, ...args) => {
      for (const hub of hubs) hub.broadcast(event, ...args);
    },
  };
}
