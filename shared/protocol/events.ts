/**
 * The socket.io event maps: the only events that exist between a client and the
 * coordinator. Payload types come from the schemas, so the compiler and the
 * runtime check agree. Reserved socket.io names (connect, disconnect, …) are never used.
 */
import type {
  AbstainMessage,
  AbstainResponse,
  JoinRequest,
  JoinResponse,
  RoundEnd,
  RoundStart,
  RunEnd,
  UpdateMessage,
  UpdateResponse,
} from './schemas.js';
import type { SecAggDown, SecAggUp } from './secureAggregation.js';

export interface ClientToServerEvents {
  /** First message after connecting; the ack says which run, model and artifacts to use. */
  join: (request: JoinRequest, ack: (response: JoinResponse) => void) => void;
  /** A trained update for the round named in it; the ack accepts it or names the reason it was refused. */
  update: (update: UpdateMessage, ack: (response: UpdateResponse) => void) => void;
  /** A secure-aggregation step of the open round (keys, shares, reveal); the ack names a refusal. */
  secagg: (message: SecAggUp, ack: (response: UpdateResponse) => void) => void;
  /** After a join: this client will take part in no round of the run, and why (data that do not fit the student). */
  abstain: (message: AbstainMessage, ack: (response: AbstainResponse) => void) => void;
}

export interface ServerToClientEvents {
  /** This client is sampled for a round: train from these weights and answer before the deadline. */
  'round:start': (round: RoundStart) => void;
  /** The coordinator's side of a secure aggregation step (roster, inbox, unmask). */
  secagg: (message: SecAggDown) => void;
  'round:end': (summary: RoundEnd) => void;
  'run:end': (summary: RunEnd) => void;
}
