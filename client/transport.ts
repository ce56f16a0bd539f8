/**
 * What a FedClient needs from the network, and nothing more: so the same
 * client runs over socket.io in Node, in a browser, or in memory in a
 * simulation.
 */
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

export interface TransportHandlers {
  roundStart(round: RoundStart): void;
  roundEnd(summary: RoundEnd): void;
  runEnd(summary: RunEnd): void;
  /** A secure-aggregation step message from the coordinator. */
  secAgg(message: SecAggDown): void;
  /** The connection came back after a drop; the client should join again. */
  reconnected(): void;
  disconnected(reason: string): void;
}

export interface FedTransport {
  /**
   * Connects; rejects with a RefusedError when the coordinator refuses (version, token). A
   * `rate-limited` refusal ends by itself: it is reported through `disconnected` and retried.
   */
  connect(handlers: TransportHandlers): Promise<void>;
  join(request: JoinRequest): Promise<JoinResponse>;
  sendUpdate(update: UpdateMessage): Promise<UpdateResponse>;
  /** A secure-aggregation step (keys, shares, reveal); acked like an update. */
  sendSecAgg(message: SecAggUp): Promise<UpdateResponse>;
  fetchArtifact(ref: ArtifactRef): Promise<Uint8Array>;
  readonly connected: boolean;
  close(): void;
}

/** The coordinator said no: retrying the same request will not help. */
export class RefusedError extends Error {
  override readonly name = 'RefusedError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}
