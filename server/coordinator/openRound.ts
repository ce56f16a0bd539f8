/**
 * The state of the one round that is open: who was sampled, who has answered,
 * who left without answering and since when, the traffic it has seen, and the
 * rule for when it has settled — every sampled client whose contribution can
 * still come has answered, or has been gone for `dropGraceMs`.
 */
import type { RoundStart } from '../../shared/protocol/index.js';
import type { StrategyRound } from '../strategies/index.js';

export class OpenRound {
  readonly sampled: ReadonlySet<string>;
  readonly answered = new Set<string>();
  /** Sampled clients that abstained: they will send nothing, and nobody waits for them. */
  readonly abstained = new Set<string>();
  /** Sampled clients that disconnected without answering, and when. */
  private readonly gone = new Map<string, number>();
  private readonly graceTimers = new Set<ReturnType<typeof setTimeout>>();
  readonly clientLosses: number[] = [];
  bytesUp = 0;
  rejected = 0;
  /** Asynchronous rounds: models sent while the round was open (its record's `sampled`). */
  modelsSent: number | undefined;
  private resolveSettled: () => void = () => undefined;
  /** Resolves once the round need wait for nobody (see `checkSettled`) or `settle()` is called. */
  readonly settled = new Promise<void>((resolve) => (this.resolveSettled = resolve));

  constructor(
    readonly id: number,
    /** round:start as every sampled client gets it, before per-client fields. */
    readonly message: RoundStart,
    /** Encoded size of `message`: what each sampled client downloads. */
    readonly bytesDown: number,
    readonly startedAt: number,
    sampled: readonly string[],
    readonly strategy: StrategyRound,
    private readonly dropGraceMs: number,
  ) {
    this.sampled = new Set(sampled);
  }

  get deadline(): number {
    return this.message.deadline;
  }

  /** The round:start `clientId` gets: the common message plus its own fields. */
  startFor(clientId: string): RoundStart {
    const own = this.strategy.startFor?.(clientId);
    return own ? { ...this.message, ...own } : this.message;
  }

  /**
   * Whether `clientId` was sampled, takes part (its secure group does not sit the round out),
   * has not answered and the deadline has not passed.
   */
  awaits(clientId: string, now = Date.now()): boolean {
    return (
      this.sampled.has(clientId) &&
      !this.sitsOut(clientId) &&
      !this.answered.has(clientId) &&
      now < this.deadline
    );
  }

  /** Whether the round's strategy leaves `clientId` out although it was sampled. */
  sitsOut(clientId: string): boolean {
    return this.strategy.sitsOut?.(clientId) ?? false;
  }

  /**
   * A sampled client left without answering: after `dropGraceMs` `recheck` runs, which
   * settles the round if nobody else is awaited.
   */
  noteGone(clientId: string, recheck: () => void): void {
    if (!this.sampled.has(clientId) || this.answered.has(clientId)) return;
    this.gone.set(clientId, Date.now());
    const timer = setTimeout(() => {
      this.graceTimers.delete(timer);
      recheck();
    }, this.dropGraceMs + 5);
    this.graceTimers.add(timer);
  }

  /**
   * Settles the round once every client whose contribution can still come has answered, is
   * excluded, or has been disconnected for at least `dropGraceMs`.
   */
  checkSettled(
    isConnected: (clientId: string) => boolean,
    isExcluded: (id: string) => boolean,
  ): void {
    const now = Date.now();
    const awaited = this.strategy.awaited?.() ?? this.sampled;
    for (const id of awaited) {
      if (this.answered.has(id) || this.abstained.has(id) || isExcluded(id)) continue;
      const since = this.gone.get(id);
      const away = since !== undefined && !isConnected(id);
      if (!away || now - since < this.dropGraceMs) return;
    }
    this.settle();
  }

  /** Stops waiting for anyone. */
  settle(): void {
    this.resolveSettled();
  }

  /** Clears the grace timers: the round is closing. */
  close(): void {
    for (const timer of this.graceTimers) clearTimeout(timer);
    this.graceTimers.clear();
  }
}
