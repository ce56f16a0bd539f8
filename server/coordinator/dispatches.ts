/**
 * Asynchronous rounds (fedbuff): which model each client was last sent and has
 * not answered yet. A client is sent the open round's model when the round
 * opens and it holds none (or its deadline has passed), when it joins, and as
 * soon as its last update is answered — so nobody waits for anybody. An update
 * must answer the dispatch on record (same round id, same model version,
 * before its deadline); its staleness is the versions published since that
 * dispatch, from this record alone: a client cannot claim a fresher model.
 */
import type { ErrorCode, RoundStart, UpdateMessage } from '../../shared/protocol/index.js';

export type ArrivalCheck = { staleness: number } | { code: ErrorCode; message: string };

/** How many of its latest dispatches are remembered per client (to tell a late answer from a forged one). */
const REMEMBERED = 16;

export class Dispatches {
  /** The round:start each client is training on, until its update is answered. */
  private readonly live = new Map<string, RoundStart>();
  /** The last deadline each client was given: a client tells round:starts apart by id@deadline. */
  private readonly lastDeadline = new Map<string, number>();
  /** The latest `roundId@modelVersion`s each client was sent, newest last (at most REMEMBERED). */
  private readonly sent = new Map<string, string[]>();

  /** Whether `clientId` holds no model it can still answer. */
  idle(clientId: string, now = Date.now()): boolean {
    const live = this.live.get(clientId);
    return !live || now >= live.deadline;
  }

  /** The dispatch `clientId` can still answer, if any (a rejoin is sent it again). */
  outstanding(clientId: string, now = Date.now()): RoundStart | undefined {
    return this.idle(clientId, now) ? undefined : this.live.get(clientId);
  }

  /**
   * Records `start` as sent to `clientId`, its deadline moved past the client's previous one if
   * need be (two dispatches of one round in the same millisecond would look like a repeat).
   */
  record(clientId: string, start: RoundStart): RoundStart {
    const deadline = Math.max(start.deadline, (this.lastDeadline.get(clientId) ?? 0) + 1);
    const sent = deadline === start.deadline ? start : { ...start, deadline };
    this.live.set(clientId, sent);
    this.lastDeadline.set(clientId, deadline);
    const key = `${sent.roundId}@${sent.modelVersion}`;
    const history = (this.sent.get(clientId) ?? []).filter((k) => k !== key);
    history.push(key);
    this.sent.set(clientId, history.slice(-REMEMBERED));
    return sent;
  }

  /**
   * Whether `clientId` was sent round `roundId` at `modelVersion` (among its latest dispatches):
   * an update refused for naming it is an honest late answer, not a forged claim.
   */
  wasSent(clientId: string, roundId: number, modelVersion: number): boolean {
    return this.sent.get(clientId)?.includes(`${roundId}@${modelVersion}`) ?? false;
  }

  /** Whether `update` answers what `clientId` was sent, and if so its staleness at `version`. */
  check(clientId: string, update: UpdateMessage, version: number, now = Date.now()): ArrivalCheck {
    const sent = this.live.get(clientId);
    if (!sent)
      return {
        code: 'not-sampled',
        message: 'no model is outstanding for this client (its last update was answered)',
      };
    if (update.roundId !== sent.roundId)
      return {
        code: 'wrong-round',
        message: `update names round ${update.roundId}; this client was sent round ${sent.roundId}`,
      };
    if (update.modelVersion !== sent.modelVersion)
      return {
        code: 'stale-model',
        message: `update is against model version ${update.modelVersion}; this client was sent version ${sent.modelVersion}`,
      };
    if (now > sent.deadline)
      return { code: 'too-late', message: `deadline of round ${sent.roundId} has passed` };
    return { staleness: version - sent.modelVersion };
  }

  /** The client's update was answered (accepted or refused): it holds no model now. */
  end(clientId: string): void {
    this.live.delete(clientId);
  }
}
