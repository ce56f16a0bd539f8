/**
 * Update intake: every update and secure-aggregation step a client sends is
 * checked here — schema, the open round, its deadline, sampling, duplicates,
 * the model version — before the round's strategy sees it, and every answer
 * is recorded: an accepted update in SQLite with its size, a refusal with its
 * code and reason (a joined client's under its id; an unjoined peer's only
 * counted, refusalTally.ts).
 */
import type { Codec } from '../../shared/codec/index.js';
import type {
  AbstainResponse,
  ErrorCode,
  UpdateMessage,
  UpdateResponse,
} from '../../shared/protocol/index.js';
import { abstainSchema, secAggUpSchema, updateSchema } from '../../shared/protocol/index.js';
import type { ClientLink } from '../clientHub.js';
import type { UnjoinedRefusals } from '../refusalTally.js';
import type { RunStore } from '../store.js';
import type { Arrival } from '../strategies/index.js';
import { ContributionError } from '../strategies/index.js';
import type { CoordinatorEvent } from './events.js';
import { UNJOINED } from './membership.js';
import type { OpenRound } from './openRound.js';
import { describeIssues, refusal } from './refusals.js';

export interface IntakeParts {
  runId: string;
  store: RunStore;
  codec: Codec;
  unjoined: UnjoinedRefusals;
  emit(event: CoordinatorEvent): void;
  /** The open round, if any. */
  openRound(): OpenRound | undefined;
  /** The id the next round will have (a round below it has closed). */
  nextRoundId(): number;
  /** Called after anything that may let the open round settle. */
  recheck(round: OpenRound): void;
  /** The open round's strategy accepted (true) or refused an update it may have screened. */
  settleScreen(accepted: boolean): void;
  /** Takes the client on `link` out of the run; its id, or undefined when it is not a member. */
  withdraw(link: ClientLink): string | undefined;
  /** A sampled client says others' key shares do not open for it. */
  complaint(roundId: number, accuser: string, accused: readonly string[]): void;
  /**
   * Asynchronous rounds (fedbuff; coordinator/dispatches.ts): checks an update against what its
   * client was sent, in place of the open round's checks below, and names the round it goes
   * into with its staleness — or the refusal.
   */
  arrival?(
    clientId: string,
    update: UpdateMessage,
  ): { round: OpenRound; arrival: Arrival } | { code: ErrorCode; message: string };
  /** Asynchronous rounds: the update `arrival` let through has been answered (either way). */
  answered?(clientId: string): void;
}

type Admission = { round: OpenRound; arrival?: Arrival } | { code: ErrorCode; message: string };

/** The round id a payload claims, for recording a refusal of a payload that fails its schema. */
function claimedRoundOf(raw: unknown): number {
  return typeof raw === 'object' &&
    raw !== null &&
    Number.isInteger((raw as { roundId?: unknown }).roundId)
    ? (raw as { roundId: number }).roundId
    : 0;
}

export class UpdateIntake {
  constructor(private readonly parts: IntakeParts) {}

  /** Records a refusal and returns the error ack. */
  reject(
    roundId: number,
    clientId: string,
    code: ErrorCode,
    message: string,
    bytes: number,
  ): UpdateResponse {
    const { store, runId } = this.parts;
    if (clientId === UNJOINED) this.parts.unjoined.count(code, bytes);
    else
      store.recordUpdate({
        runId,
        round: roundId,
        clientId,
        status: 'rejected',
        reason: `${code}: ${message}`,
        numSamples: null,
        bytes,
        receivedAt: Date.now(),
      });
    const open = this.parts.openRound();
    if (open && open.id === roundId) open.rejected += 1;
    this.parts.emit({ type: 'update:rejected', roundId, clientId, code, message });
    return refusal(code, message);
  }

  /** Refuses the update `raw` from `link` before any other check (recorded like every refusal). */
  refuseUpdate(
    link: ClientLink,
    raw: unknown,
    code: ErrorCode,
    message: string,
    bytes: number,
  ): UpdateResponse {
    return this.reject(claimedRoundOf(raw), link.clientId ?? UNJOINED, code, message, bytes);
  }

  private bytesOf(link: ClientLink, raw: unknown): number {
    return link.lastMessageBytes ?? this.parts.codec.encode(raw).byteLength;
  }

  /** Why `roundId` cannot take a message now, or undefined when it is the open round. */
  private closedRound(roundId: number): { code: ErrorCode; message: string } | undefined {
    const round = this.parts.openRound();
    if (round && round.id === roundId) return undefined;
    const late = roundId < (round?.id ?? this.parts.nextRoundId());
    return {
      code: late ? 'too-late' : 'wrong-round',
      message: `round ${roundId} is not open (open: ${round?.id ?? 'none'})`,
    };
  }

  /** @param bytes the message's size, when it was measured on arrival (a deferred update). */
  update(link: ClientLink, raw: unknown, bytes = this.bytesOf(link, raw)): UpdateResponse {
    const clientId = link.clientId;
    const claimed = claimedRoundOf(raw);
    if (!clientId)
      return this.reject(claimed, UNJOINED, 'not-joined', 'send join before update', bytes);
    const parsed = updateSchema.safeParse(raw);
    if (!parsed.success)
      return this.reject(claimed, clientId, 'invalid-payload', describeIssues(parsed.error), bytes);
    const update = parsed.data;
    const reject = (code: ErrorCode, message: string) =>
      this.reject(update.roundId, clientId, code, message, bytes);
    const admission = this.parts.arrival
      ? this.parts.arrival(clientId, update)
      : this.admit(clientId, update);
    if ('code' in admission) return reject(admission.code, admission.message);
    const { round, arrival } = admission;
    let note: string | undefined;
    try {
      note = round.strategy.accept(clientId, update, arrival)?.note;
      this.parts.settleScreen(true);
    } catch (error) {
      this.parts.settleScreen(false);
      const code = error instanceof ContributionError ? error.code : 'rejected-weights';
      const refused = reject(code, (error as Error).message);
      this.parts.answered?.(clientId);
      return refused;
    }
    round.answered.add(clientId);
    round.bytesUp += bytes;
    round.clientLosses.push(update.metrics.loss);
    const { store, runId } = this.parts;
    store.recordUpdate({
      runId,
      round: round.id,
      clientId,
      status: 'accepted',
      // Set when what was folded in is not what was sent (the update bound clipped it).
      reason: note ?? null,
      numSamples: update.numSamples,
      bytes,
      receivedAt: Date.now(),
    });
    store.addClientTraffic(runId, clientId, 0, bytes, true);
    this.parts.emit({
      type: 'update:accepted',
      roundId: round.id,
      clientId,
      numSamples: update.numSamples,
      bytes,
    });
    this.parts.answered?.(clientId);
    this.parts.recheck(round);
    return { ok: true, roundId: round.id };
  }

  /** The open round's checks of an update: open, in time, sampled, first, against its model. */
  private admit(clientId: string, update: UpdateMessage): Admission {
    const closed = this.closedRound(update.roundId);
    if (closed) return closed;
    const round = this.parts.openRound()!;
    if (Date.now() > round.deadline)
      return { code: 'too-late', message: `deadline of round ${round.id} has passed` };
    if (!round.sampled.has(clientId))
      return { code: 'not-sampled', message: `client was not sampled in round ${round.id}` };
    if (round.answered.has(clientId))
      return { code: 'duplicate', message: `client already sent an update in round ${round.id}` };
    if (update.modelVersion !== round.message.modelVersion)
      return {
        code: 'stale-model',
        message: `update is against model version ${update.modelVersion}, round ${round.id} uses ${round.message.modelVersion}`,
      };
    return { round };
  }

  /**
   * A joined client takes no part in the run (its data do not fit the student, …): in the open
   * round nobody waits for it, and it is sampled no more. Recorded like a refusal; once per
   * connection (a repeat is refused and counts against it, so it cannot fill SQLite).
   */
  abstain(link: ClientLink, raw: unknown): AbstainResponse {
    if (!link.clientId) return refusal('not-joined', 'abstain: send join first');
    const parsed = abstainSchema.safeParse(raw);
    if (!parsed.success)
      return refusal('invalid-payload', `abstain: ${describeIssues(parsed.error)}`);
    const clientId = this.parts.withdraw(link);
    if (!clientId) return refusal('duplicate', 'abstain: this connection has abstained already');
    const { reason, message } = parsed.data;
    const round = this.parts.openRound();
    this.parts.store.recordUpdate({
      runId: this.parts.runId,
      round: round?.id ?? 0,
      clientId,
      status: 'rejected',
      reason: `abstained: ${reason}: ${message}`,
      numSamples: null,
      bytes: this.bytesOf(link, raw),
      receivedAt: Date.now(),
    });
    this.parts.emit({ type: 'client:abstained', clientId, reason, message });
    if (round?.sampled.has(clientId) && !round.answered.has(clientId)) {
      round.abstained.add(clientId);
      this.parts.recheck(round);
    }
    return { ok: true };
  }

  /** A secure-aggregation step message (keys, shares, reveal, complaint) from a sampled client. */
  secAgg(link: ClientLink, raw: unknown): UpdateResponse {
    const clientId = link.clientId;
    const bytes = this.bytesOf(link, raw);
    const parsed = secAggUpSchema.safeParse(raw);
    const claimed = parsed.success ? parsed.data.roundId : 0;
    const reject = (code: ErrorCode, message: string) =>
      this.reject(claimed, clientId ?? UNJOINED, code, `secagg: ${message}`, bytes);
    if (!clientId) return reject('not-joined', 'send join first');
    if (!parsed.success) return reject('invalid-payload', describeIssues(parsed.error));
    const message = parsed.data;
    const closed = this.closedRound(message.roundId);
    if (closed) return reject(closed.code, closed.message);
    const round = this.parts.openRound()!;
    const receive = round.strategy.receive;
    if (!receive) return reject('wrong-phase', `round ${round.id} does not aggregate securely`);
    if (!round.sampled.has(clientId))
      return reject('not-sampled', `client was not sampled in round ${round.id}`);
    try {
      const { accused } = receive.call(round.strategy, clientId, message);
      if (accused.length > 0) {
        this.parts.complaint(round.id, clientId, accused);
        this.parts.recheck(round);
      }
    } catch (error) {
      if (!(error instanceof ContributionError)) throw error;
      // The refusal may have been a withdrawal (keys after the key step): maybe nobody is left.
      this.parts.recheck(round);
      return reject(error.code, `${message.step}: ${error.message}`);
    }
    round.bytesUp += bytes;
    this.parts.store.addClientTraffic(this.parts.runId, clientId, 0, bytes, false);
    return { ok: true, roundId: round.id };
  }
}
