/**
 * Connecting to Redis from the project's processes (simulation pools and workers, the master and
 * its edges): URL checks, a one-shot probe that fails with a clear message, and the long-lived
 * connection that retries forever.
 */
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';

/** The URL with any password masked, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/** Throws an error naming the field when `url` is not a redis:// or rediss:// URL. */
export function checkRedisUrl(url: string, field = '--redis'): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`${field}: '${url}' is not a URL (expected redis://HOST:PORT)`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')
    throw new Error(`${field}: '${redactUrl(url)}' is not a redis:// or rediss:// URL`);
}

/**
 * Connects once, without retrying, and fails with an error naming the URL when Redis is not
 * there: what a simulation or worker does at start, before any long-lived connection.
 */
export async function probeRedis(url: string, timeoutMs = 5000): Promise<void> {
  checkRedisUrl(url);
  const probe = new Redis(url, {
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: timeoutMs,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
  } catch (error) {
    throw new Error(`Redis at ${redactUrl(url)} is unreachable: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    probe.disconnect();
  }
}

/**
 * A long-lived connection: retries forever (commands wait for the reconnect), as BullMQ
 * requires for workers. `onError` sees each failed attempt instead of ioredis's own logging.
 */
export function connectRedis(url: string, onError: (error: Error) => void): Redis {
  const options: RedisOptions = {
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => Math.min(100 * attempt, 1000),
  };
  const redis = new Redis(url, options);
  redis.on('error', onError);
  return redis;
}
