/** The coordinator's ClientHub over a socket.io server. */
import type { Server, Socket } from 'socket.io';
import type { ClientToServerEvents, ServerToClientEvents } from '../shared/protocol/index.js';
import type { ClientHub, ClientLink } from './clientHub.js';

export interface SocketData {
  clientId?: string;
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

function linkFor(socket: ClientSocket): ClientLink {
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
    on: (event, handler) => {
      // The typed overloads of socket.on do not narrow over a generic event name.
      (socket.on as (event: string, handler: (...args: never[]) => void) => void)(event, handler);
    },
    onDisconnect: (handler) => void socket.on('disconnect', handler),
    emit: (event, ...args) => void socket.emit(event, ...args),
    disconnect: () => void socket.disconnect(true),
  };
}

export class SocketHub implements ClientHub {
  constructor(private readonly io: CoordinatorServer) {}

  onConnection(handler: (link: ClientLink) => void): void {
    this.io.on('connection', (socket) => handler(linkFor(socket)));
  }

  broadcast<E extends keyof ServerToClientEvents>(
    event: E,
    ...args: Parameters<ServerToClientEvents[E]>
  ): void {
    this.io.emit(event, ...args);
  }
}
