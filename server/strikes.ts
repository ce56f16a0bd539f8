/**
 * Refusals per connection in a sliding window: a peer that keeps sending what
 * the coordinator must refuse is cut off instead of being served forever.
 */
export class StrikeCounter {
  private readonly times: number[] = [];

  /**
   * @param limit refusals allowed within `windowMs`; the next one trips the counter.
   * @param windowMs length of the sliding window.
   */
  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records one refusal; true when the peer has now exceeded the limit. */
  strike(): boolean {
    const now = this.now();
    this.times.push(now);
    while (this.times.length > 0 && this.times[0]! <= now - this.windowMs) this.times.shift();
    return this.times.length > this.limit;
  }
}
