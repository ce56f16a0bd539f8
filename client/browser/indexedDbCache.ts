/**
 * An ArtifactCache in IndexedDB: the proxy set and soft labels survive a
 * reload, so a returning page downloads nothing but the round's weights.
 * FedClient checks every cached artifact's hash, so a damaged entry is only
 * a cache miss. Storage failures (private browsing, quota) never stop the
 * client: they make the cache a no-op and are reported through `onError`.
 */
import type { ArtifactCache } from '../fedClient.js';

export interface IndexedDbCacheOptions {
  /** Database name. Defaults to 'fedistill'. */
  database: string;
  /** Entries kept; the oldest are deleted beyond it. Defaults to 6. */
  maxEntries: number;
  /** Told about storage failures. Defaults to none. */
  onError: (message: string) => void;
}

const STORE = 'artifacts';

interface Entry {
  hash: string;
  bytes: Uint8Array;
  storedAt: number;
}

function requestResult<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB request failed'));
  });
}

export class IndexedDbArtifactCache implements ArtifactCache {
  private readonly options: IndexedDbCacheOptions;
  private db: Promise<IDBDatabase> | undefined;

  constructor(options: Readonly<Partial<IndexedDbCacheOptions>> = {}) {
    this.options = { database: 'fedistill', maxEntries: 6, onError: () => undefined, ...options };
  }

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise<IDBDatabase>((resolve, reject) => {
      if (typeof indexedDB === 'undefined') {
        reject(new Error('IndexedDB is not available'));
        return;
      }
      const request = indexedDB.open(this.options.database, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: 'hash' });
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error ?? new Error('cannot open IndexedDB'));
      request.onblocked = () => reject(new Error('IndexedDB upgrade blocked by another tab'));
    });
    return this.db;
  }

  async get(hash: string): Promise<Uint8Array | undefined> {
    try {
      const db = await this.open();
      const entry = await requestResult<Entry | undefined>(
        db.transaction(STORE, 'readonly').objectStore(STORE).get(hash),
      );
      return entry?.bytes instanceof Uint8Array ? entry.bytes : undefined;
    } catch (error) {
      this.options.onError(`artifact cache read failed: ${(error as Error).message}`);
      return undefined;
    }
  }

  async set(hash: string, bytes: Uint8Array): Promise<void> {
    try {
      const db = await this.open();
      const store = db.transaction(STORE, 'readwrite').objectStore(STORE);
      await requestResult(store.put({ hash, bytes: bytes.slice(), storedAt: Date.now() }));
      const entries = await requestResult<Entry[]>(store.getAll());
      const excess = entries.length - this.options.maxEntries;
      if (excess > 0) {
        const oldest = entries.sort((a, b) => a.storedAt - b.storedAt).slice(0, excess);
        for (const entry of oldest) await requestResult(store.delete(entry.hash));
      }
    } catch (error) {
      this.options.onError(`artifact cache write failed: ${(error as Error).message}`);
    }
  }
}
