/**
 * What the coordinator needs from the network: connections that deliver the
 * client→server events and take server→client events. socket.io provides it
 * for real deployments (`socketHub.ts`); a simulation provides it in memory,
 * so the same round logic serves both.
 */
import type { ClientToServerEvents, ServerToClientEvents } from '../shared/protocol/index.js';

export interface ClientLink {
  /** The client id this connection joined as, once it has. */
  clientId: string | undefined;
  /**
   * Size on the wire of the message being handled, when the transport knows it (socket.io
   * frames); undefined otherwise, and the coordinator measures the decoded payload instead.
   */
  readonly lastMessageBytes?: number | undefined;
  on<E extends keyof ClientToServerEvents>(event: E, handler: ClientToServerEvents[E]): void;
  onDisconnect(handler: () => void): void;
  emit<E extends keyof ServerToClientEvents>(
    event: E,
    ...args: Parameters<ServerToClientEvents[E]>
  ): void;
  /**
   * Set when the connection authenticated with a per-client token (server/auth.ts): that
   * token's client name. Its joins were already held to the id bound to that name.
   */
  readonly tokenName?: string | undefined;
  /**
   * Closes this connection from the coordinator's side. `'cut-off'`: for abuse; the hub may
   * refuse the connection's source for a while.
   */
  disconnect(reason?: 'cut-off'): void;
}

export interface ClientHub {
  onConnection(handler: (link: ClientLink) => void): void;
  broadcast<E extends keyof ServerToClientEvents>(
    event: E,
    ...args: Parameters<ServerToClientEvents[E]>
  ): void;
}
