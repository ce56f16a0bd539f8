/** The coordinator's ClientHub over a socket.io server. */
import type { Server, Socket } from 'socket.io';
import type { ClientToServerEvents, ServerToClientEvents } from '../shared/protocol/index.js';
import type { ClientHub, ClientLink } from './clientHub.js';

export interface SocketData {
  clientId?: string;
  /** What a cut-off of this connection is charged to (server/penaltyBox.ts). */
  source?: string;
  /** The per-client token's name, when the connection authenticated with one. */
  tokenName?: string;
}

export interface SocketHubOptions {
  /** Called when the coordinator cuts a connection off for abuse, before it is closed. */
  onCutOff?: (data: SocketData) => void;
  /**
   * A connection that has not joined (no client id) this long after connecting is closed,
   * so idle sockets that answer pings cannot pile up. Undefined: never.
   */
  joinTimeoutMs?: number;
  /** Called when a connection is closed for not joining in time, before it is closed. */
  onJoinTimeout?: (data: SocketData) => void;
}

export type CoordinatorServer = Server<
  ClientToServerEvents,
  ServerToClientEvents,
  Record<string, never>,
  SocketData
>;

type ClientSocket = Socket<
  ClientToServerEvents,
  ServerToClientEvents,
  Record<string, never>,
  SocketData
>;

function linkFor(socket: ClientSocket, options: SocketHubOptions): ClientLink {
  // engine.io hands each frame to socket.io, which decodes it and runs the event handler before
  // the next frame of this connection is read: the last frame seen is the message being handled.
  let lastFrameBytes: number | undefined;
  socket.conn.on('data', (data: string | Uint8Array | ArrayBuffer) => {
    lastFrameBytes = typeof data === 'string' ? data.length : data.byteLength;
  });
  return {
    get lastMessageBytes() {
      return lastFrameBytes;
    },
    get clientId() {
      return socket.data.clientId;
    },
    set clientId(id: string | undefined) {
      socket.data.clientId = id;
    },
    get tokenName() {
      return socket.data.tokenName;
    },
    on: (event, handler) => {
      // The typed overloads of socket.on do not narrow over a generic event name.
      (socket.on as (event: string, handler: (...args: never[]) => void) => void)(event, handler);
    },
    onDisconnect: (handler) => void socket.on('disconnect', handler),
    emit: (event, ...args) => void socket.emit(event, ...args),
    disconnect: (reason) => {
      if (reason === 'cut-off') options.onCutOff?.(socket.data);
      socket.disconnect(true);
    },
  };
}

export class SocketHub implements ClientHub {
  #unjoinedClosed = 0;

  constructor(
    private readonly io: CoordinatorServer,
    private readonly options: SocketHubOptions = {},
  ) {}

  /** Connections closed so far for not joining within `joinTimeoutMs`. */
  get unjoinedClosed(): number {
    return this.#unjoinedClosed;
  }

  onConnection(handler: (link: ClientLink) => void): void {
    this.io.on('connection', (socket) => {
      this.closeUnlessJoined(socket);
      handler(linkFor(socket, this.options));
    });
  }

  private closeUnlessJoined(socket: ClientSocket): void {
    const limit = this.options.joinTimeoutMs;
    if (limit === undefined) return;
    const timer = setTimeout(() => {
      if (socket.data.clientId !== undefined || !socket.connected) return;
      this.#unjoinedClosed += 1;
      this.options.onJoinTimeout?.(socket.data);
      socket.disconnect(true);
    }, limit);
    socket.once('disconnect', () => clearTimeout(timer));
  }

  broadcast<E extends keyof ServerToClientEvents>(
    event: E,
    ...args: Parameters<ServerToClientEvents[E]>
  ): void {
    this.io.emit(event, ...args);
  }
}
