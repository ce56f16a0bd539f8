/**
 * Redis lost and back, as the master and its edges see it: one watch over a
 * process's Redis connections. The first connection to close starts an
 * outage (a degraded state: logged once, naming Redis and what waits for it);
 * once every watched connection is ready again the outage ends; an outage
 * longer than the limit is a failure the process cannot ride out. ioredis
 * keeps retrying and queues commands meanwhile, so nothing here resends: the
 * owner decides what to restore when Redis is back (it may be empty).
 */
import type { Redis } from 'ioredis';
import { redactUrl } from '../../node/redis.js';

/** How long Redis may be away mid-run before the master stops its run and an edge exits. */
export const DEFAULT_OUTAGE_LIMIT_MS = 120_000;

export interface OutageState {
  /** `up` while every watched connection is ready. */
  redis: 'up' | 'down';
  /** When the current outage began (epoch ms); absent while Redis is up. */
  downSince?: number;
  /** Why the first connection closed, for the current outage. */
  reason?: string;
  /** Outages so far, the current one included. */
  outages: number;
  /** The limit: an outage this long is a failure. */
  limitMs: number;
}

export interface OutageHandlers {
  /** Redis is away: `message` says so, naming what is paused. */
  lost(message: string): void;
  /** Every connection is ready again after `awayMs`. */
  back(awayMs: number): void;
  /** Redis has been away longer than the limit: `message` says so. */
  gaveUp(message: string): void;
}

export class RedisOutage {
  private downSince: number | undefined;
  private reason: string | undefined;
  private outages = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly where: string;

  /**
   * @param url the Redis URL (its password is masked in messages)
   * @param paused what waits for Redis in this process, for the degraded line
   * @param limitMs how long an outage may last before `gaveUp`
   */
  constructor(
    url: string,
    private readonly connections: readonly Redis[],
    private readonly paused: string,
    private readonly handlers: OutageHandlers,
    readonly limitMs: number = DEFAULT_OUTAGE_LIMIT_MS,
  ) {
    this.where = redactUrl(url);
    for (const connection of connections) {
      connection.on('close', () => this.onClose());
      connection.on('error', (error: Error) => {
        if (connection.status !== 'ready') this.reason ??= error.message;
      });
      connection.on('ready', () => this.onReady());
    }
  }

  /** True while an outage lasts. */
  get down(): boolean {
    return this.downSince !== undefined;
  }

  state(): OutageState {
    return {
      redis: this.down ? 'down' : 'up',
      ...(this.downSince !== undefined ? { downSince: this.downSince } : {}),
      ...(this.down && this.reason !== undefined ? { reason: this.reason } : {}),
      outages: this.outages,
      limitMs: this.limitMs,
    };
  }

  private onClose(): void {
    // A close while reconnecting (each failed attempt) is the same outage; one the owner makes
    // itself (close() first) is none.
    if (this.closed || this.down) return;
    this.downSince = Date.now();
    this.outages += 1;
    const seconds = Math.round(this.limitMs / 1000);
    this.handlers.lost(
      `Redis at ${this.where} unreachable (${this.reason ?? 'connection closed'}): ${this.paused} paused, waiting up to ${seconds} s for it to return`,
    );
    this.timer = setTimeout(() => {
      if (this.closed || !this.down) return;
      this.handlers.gaveUp(`Redis at ${this.where} unreachable for ${seconds} s: giving up`);
    }, this.limitMs);
    this.timer.unref();
  }

  private onReady(): void {
    if (this.closed || this.downSince === undefined) return;
    if (this.connections.some((c) => c.status !== 'ready')) return;
    clearTimeout(this.timer);
    const away = Date.now() - this.downSince;
    this.downSince = undefined;
    this.reason = undefined;
    this.handlers.back(away);
  }

  /** The owner is closing its connections: their closing is no outage. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}
