/**
 * The wire protocol's version. A client states it in the socket.io handshake;
 * the coordinator refuses any other with `protocol-version`. Bump it on any
 * change to an event's name or payload that an older peer would misread.
 *
 * Version 2 added secure aggregation (the `secagg` event, `RoundStart.secureAggregation`,
 * `UpdateMessage.masked`, error code `wrong-phase`), rejoin secrets (`JoinRequest.rejoinSecret`,
 * `JoinAccepted.rejoinSecret`) and the `rate-limited` handshake refusal.
 *
 * Version 3 added the `abstain` event, `JoinRequest.labelCounts`, `JoinAccepted.strategy` and
 * `JoinAccepted.teacherFeatures`, `RoundConfig.distillation` and `TrainMetrics.terms`: a version 2
 * coordinator's strict schemas would refuse the new fields as unknown.
 */
export const PROTOCOL_VERSION = 3;
