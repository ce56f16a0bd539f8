/**
 * Refused updates from connections that never joined, counted in memory and
 * written as one aggregate row per (run, reason). Such a peer has no client id
 * to record them under, and a row per message would let anyone who can open a
 * socket turn a flood of garbage into a flood of disk writes; this way a flood
 * costs one small transaction per `flushEveryMs` at most.
 *
 * Counts not yet written are lost if the process dies; `flush()` on the way
 * out (run end, coordinator disposal) writes the rest.
 */
import type { RunStore } from './store.js';

export class UnjoinedRefusals {
  private readonly pending = new Map<string, { count: number; bytes: number }>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly store: RunStore,
    private readonly runId: string,
    private readonly flushEveryMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one refusal of `code` (a frame of `bytes`); written by the next flush. */
  count(code: string, bytes: number): void {
    const tally = this.pending.get(code) ?? { count: 0, bytes: 0 };
    tally.count += 1;
    tally.bytes += bytes;
    this.pending.set(code, tally);
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.flushEveryMs);
      // Counting must not keep a finished process alive; dispose() flushes what is left.
      this.timer.unref?.();
    }
  }

  /** Adds the counts so far to SQLite, in one transaction. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const counts = [...this.pending].map(([code, { count, bytes }]) => ({ code, count, bytes }));
    this.pending.clear();
    this.store.addUnjoinedRefusals(this.runId, counts, this.now());
  }
}
