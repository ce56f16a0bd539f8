/**
 * The wire protocol's version. A client states it in the socket.io handshake;
 * the coordinator refuses any other with `protocol-version`. Bump it on any
 * change to an event's name or payload that an older peer would misread.
 *
 * Version 2 added secure aggregation (the `secagg` event, `RoundStart.secureAggregation`,
 * `UpdateMessage.masked`, error code `wrong-phase`), rejoin secrets (`JoinRequest.rejoinSecret`,
 * `JoinAccepted.rejoinSecret`) and the `rate-limited` handshake refusal.
 */
export const PROTOCOL_VERSION = 2;
