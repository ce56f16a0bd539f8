/**
 * The coordinator's side of asynchronous rounds (strategies with the
 * `asynchronous` capability: fedbuff). Nobody waits for anybody: each
 * connected client is sent the open round's model when the round opens and it
 * holds none, when it joins, and as soon as its update is answered; an update
 * goes into whatever buffer is open, its staleness computed from what its
 * client was sent (dispatches.ts); and one that comes while a full buffer is
 * being aggregated waits for the next buffer instead of being refused. The run
 * loop (coordinator.ts) calls in at the few points where a round differs.
 */
import type { Codec } from '../../shared/codec/index.js';
import type {
  ErrorCode,
  RoundStart,
  UpdateMessage,
  UpdateResponse,
} from '../../shared/protocol/index.js';
import type { ClientLink } from '../clientHub.js';
import type { RunStore } from '../store.js';
import type { Arrival } from '../strategies/index.js';
import { Dispatches } from './dispatches.js';
import type { OpenRound } from './openRound.js';

export interface AsynchronousParts {
  runId: string;
  store: RunStore;
  codec: Codec;
  /** How long a client has to answer the model it was sent (`roundTimeoutMs`). */
  answerWithinMs: number;
  /** The link of a connected member. */
  linkOf(clientId: string): ClientLink | undefined;
  openRound(): OpenRound | undefined;
  /** The global model's version now. */
  modelVersion(): number;
  /** Whether the run has ended. */
  finished(): boolean;
  /** The intake's handling of an update (checked and recorded there). */
  intake(link: ClientLink, raw: unknown, bytes?: number): UpdateResponse;
  /** Refuses an update before the intake sees it (recorded there like any refusal). */
  refuse(
    link: ClientLink,
    raw: unknown,
    code: ErrorCode,
    message: string,
    bytes: number,
  ): UpdateResponse;
  /** A dispatch threw (SQLite, a broken link): told and counted; the run goes on. */
  fault(where: string, error: unknown): void;
}

export class AsynchronousRounds {
  private readonly dispatches = new Dispatches();
  private openNow: () => void = () => undefined;
  /** Clients with an update waiting for the next buffer: one each, so waiting memory is bounded. */
  private readonly waiting = new Set<string>();
  /** Resolves when the next buffer opens (or the run ends). */
  private opens = new Promise<void>((resolve) => (this.openNow = resolve));

  constructor(private readonly parts: AsynchronousParts) {}

  /** A round opened: its model goes to every connected client holding none; waiting updates go in. */
  opened(round: OpenRound, connected: readonly string[]): void {
    for (const id of connected) this.dispatch(round, id);
    this.letIn();
  }

  /** The run ended: updates still waiting for a buffer are answered (refused). */
  ended(): void {
    this.letIn();
  }

  /** Whether `round` has what it aggregates; nobody else is waited for. */
  settle(round: OpenRound): void {
    if (round.strategy.complete?.()) round.settle();
  }

  /**
   * An update as it arrives. While a full buffer is being aggregated (evaluated, checkpointed) it
   * waits for the next buffer and goes into it, its staleness counted then, so its training is
   * not wasted; its size is taken on arrival. One update per client waits (a client holds one
   * model at a time): another from the same client meanwhile is refused `duplicate` at once,
   * so nobody can pile deltas up in the coordinator's memory during an aggregation.
   */
  update(link: ClientLink, raw: unknown, bytes?: number): UpdateResponse | Promise<UpdateResponse> {
    const clientId = link.clientId;
    // An unjoined connection's update is refused by the intake at once, never kept.
    if (this.takesUpdates() || clientId === undefined) return this.parts.intake(link, raw, bytes);
    const size = bytes ?? link.lastMessageBytes ?? this.parts.codec.encode(raw).byteLength;
    if (this.waiting.has(clientId))
      return this.parts.refuse(
        link,
        raw,
        'duplicate',
        'an update from this client is already waiting for the next buffer',
        size,
      );
    this.waiting.add(clientId);
    return this.waitForBuffer(link, raw, size).finally(() => this.waiting.delete(clientId));
  }

  /** Whether an update goes to the intake now: a buffer is open and filling, or the run is over. */
  private takesUpdates(): boolean {
    const round = this.parts.openRound();
    return this.parts.finished() || (round !== undefined && !round.strategy.complete?.());
  }

  private async waitForBuffer(
    link: ClientLink,
    raw: unknown,
    size: number,
  ): Promise<UpdateResponse> {
    do await this.opens;
    while (!this.takesUpdates());
    return this.parts.intake(link, raw, size);
  }

  /**
   * The intake's check of an update (in place of a synchronous round's): the open round it goes
   * into and its staleness, from what its client was sent. Only once the run has ended is there
   * no round to go into.
   */
  arrival(
    clientId: string,
    update: UpdateMessage,
  ): { round: OpenRound; arrival: Arrival } | { code: ErrorCode; message: string } {
    const check = this.dispatches.check(clientId, update, this.parts.modelVersion());
    if ('code' in check) {
      // A late answer to a model it was sent (its deadline passed, or it was sent a newer one
      // meanwhile) is honest: if it holds no model it can still answer, it is sent the current
      // one so it goes on. A claim to a model never sent to it gets nothing new.
      if (
        check.code !== 'not-sampled' &&
        this.dispatches.wasSent(clientId, update.roundId, update.modelVersion) &&
        this.dispatches.idle(clientId)
      )
        this.answered(clientId);
      return check;
    }
    const round = this.parts.openRound();
    if (!round || round.strategy.complete?.()) {
      this.dispatches.end(clientId);
      return {
        code: 'too-late',
        message: this.parts.finished()
          ? `run ${this.parts.runId} has ended`
          : 'the buffer is being aggregated',
      };
    }
    return { round, arrival: { staleness: check.staleness } };
  }

  /** `clientId`'s update was answered (either way): it is sent the current model next. */
  answered(clientId: string): void {
    this.dispatches.end(clientId);
    const round = this.parts.openRound();
    // After the update's ack has gone out: a round:start before it would supersede the delivery.
    if (round) setImmediate(() => this.dispatch(round, clientId));
  }

  /**
   * The round:start a joining client gets in its join answer: the one it may still answer (a
   * rejoin), else the open round's model.
   */
  startOnJoin(clientId: string): RoundStart | undefined {
    const outstanding = this.dispatches.outstanding(clientId);
    const round = this.parts.openRound();
    return outstanding ?? (round ? this.record(round, clientId) : undefined);
  }

  /**
   * Sends `clientId` the open round's model when it holds none it can still answer. It runs
   * outside any handler's guard (from setImmediate, or the run loop's round opening): what it
   * throws is a fault for that client alone; the client gets a model again on its next turn.
   */
  private dispatch(round: OpenRound, clientId: string): void {
    try {
      const link = this.parts.linkOf(clientId);
      if (!link || !this.dispatches.idle(clientId)) return;
      const start = this.record(round, clientId);
      if (start) link.emit('round:start', start);
    } catch (error) {
      this.parts.fault('dispatch', error);
    }
  }

  /** The open round's model for `clientId`, with a deadline of its own, recorded as sent. */
  private record(round: OpenRound, clientId: string): RoundStart | undefined {
    if (this.parts.openRound() !== round || round.strategy.complete?.()) return undefined;
    const start = this.dispatches.record(clientId, {
      ...round.startFor(clientId),
      deadline: Date.now() + this.parts.answerWithinMs,
    });
    this.parts.store.addClientTraffic(this.parts.runId, clientId, round.bytesDown, 0, false);
    round.modelsSent = (round.modelsSent ?? 0) + 1;
    return start;
  }

  private letIn(): void {
    const open = this.openNow;
    this.opens = new Promise<void>((resolve) => (this.openNow = resolve));
    open();
  }
}
