/**
 * The browser client in one call: pick the best tfjs backend, claim the tab's
 * client id, join the coordinator over socket.io, cache the proxy set and
 * soft labels in IndexedDB, and train every round this browser is sampled in.
 *
 *   const client = await startBrowserClient({ url, token, data, onEvent });
 *   await client.done; // 'completed' | 'stopped'
 *
 * `data` is the app's private labelled data (it never leaves the page; only
 * trained weight deltas do).
 */
import type { BackendAttempt, BackendChoice } from '../../shared/backend/index.js';
import type { LabeledData } from '../../shared/data/types.js';
import type { ArtifactCache, FedClientEvent } from '../fedClient.js';
import { FedClient } from '../fedClient.js';
import { SocketTransport } from '../socketTransport.js';
import { countLabels, withLabelCounts } from '../labelCountsTransport.js';
import { selectBrowserBackend } from './backend.js';
import { claimClientIdentity } from './identity.js';
import { IndexedDbArtifactCache } from './indexedDbCache.js';

export type BrowserClientEvent =
  | FedClientEvent
  | { type: 'backend'; name: string; tried: BackendAttempt[] }
  | { type: 'warning'; message: string };

export interface BrowserClientOptions {
  /** Coordinator base URL, e.g. http://127.0.0.1:8080. Defaults to the page's origin. */
  url?: string;
  /** Join token, when the coordinator was started with --token. */
  token?: string;
  /** Private labelled data: features row-major `[count, ...inputShape]` in 0..1, class labels. */
  data: LabeledData;
  /** A name shown on the dashboard. */
  name?: string;
  /** Force a tfjs backend: 'webgpu' | 'webgl' | 'wasm' | 'cpu'. Defaults to the best that works. */
  backend?: string;
  /** URL prefix of the tfjs wasm binaries. Defaults to `<url>/assets/wasm/`. */
  wasmPaths?: string;
  /** Rejoin as the same client after a reload (id and rejoin secret kept in localStorage). Defaults to true. */
  persistClientId?: boolean;
  /** Where artifacts are cached. Defaults to IndexedDB; `false` for none. */
  cache?: ArtifactCache | false;
  /** Every client event: backend chosen, joined, artifacts, round progress, updates, errors. */
  onEvent?: (event: BrowserClientEvent) => void;
}

export interface BrowserClient {
  /** The id the coordinator gave (undefined until joined). */
  readonly clientId: string | undefined;
  readonly backend: BackendChoice;
  /** Resolves with the reason when the run ends ('completed', 'stopped') or `stop()` is called. */
  readonly done: Promise<string>;
  readonly traffic: { bytesDown: number; bytesUp: number };
  stop(): void;
}

/**
 * Starts a browser client; resolves once it has joined and loaded the
 * artifacts. Rejects with a RefusedError (from client/transport) when the
 * coordinator refuses (`code`: 'unauthorized', 'protocol-version', 'run-ended', …),
 * or an Error when no tfjs backend starts.
 */
export async function startBrowserClient(options: BrowserClientOptions): Promise<BrowserClient> {
  const url = options.url ?? location.origin;
  const emit = (event: BrowserClientEvent) => options.onEvent?.(event);
  const backend = await selectBrowserBackend({
    wasmPaths: options.wasmPaths ?? new URL('/assets/wasm/', url).href,
    ...(options.backend !== undefined ? { force: options.backend } : {}),
  });
  emit({ type: 'backend', name: backend.name, tried: backend.tried });
  const identity =
    options.persistClientId === false ? undefined : await claimClientIdentity(new URL(url).origin);
  const cache =
    options.cache === false
      ? undefined
      : (options.cache ??
        new IndexedDbArtifactCache({ onError: (message) => emit({ type: 'warning', message }) }));
  const client = new FedClient({
    // The label histogram goes with the join, for the dashboard's view of this client's skew.
    transport: withLabelCounts(
      new SocketTransport({
        url,
        ...(options.token !== undefined ? { token: options.token } : {}),
      }),
      countLabels(options.data),
    ),
    data: options.data,
    platform: 'browser',
    backend: backend.name,
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...(identity?.clientId !== undefined ? { clientId: identity.clientId } : {}),
    ...(identity?.rejoinSecret !== undefined ? { rejoinSecret: identity.rejoinSecret } : {}),
    ...(cache ? { cache } : {}),
    onEvent: (event) => {
      if (event.type === 'joined') identity?.save(event.clientId, client.rejoinSecret);
      emit(event);
    },
  });
  try {
    await client.start();
  } catch (error) {
    client.stop();
    identity?.release();
    throw error;
  }
  void client.done.then(() => identity?.release());
  return {
    get clientId() {
      return client.id;
    },
    backend,
    done: client.done,
    get traffic() {
      return client.traffic;
    },
    stop: () => {
      client.stop();
      identity?.release();
    },
  };
}
