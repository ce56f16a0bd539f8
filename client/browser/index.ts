// The embeddable browser client, served by every coordinator as an ES module at
// /assets/fedistill-client.js (see docs/browser.md):
//   import { startBrowserClient } from 'http://coordinator:8080/assets/fedistill-client.js';
export { startBrowserClient } from './startBrowserClient.js';
export type {
  BrowserClient,
  BrowserClientEvent,
  BrowserClientOptions,
} from './startBrowserClient.js';
export { browserBackendCandidates, selectBrowserBackend, webglRenderer } from './backend.js';
export type { BrowserBackendOptions } from './backend.js';
export { IndexedDbArtifactCache } from './indexedDbCache.js';
export type { IndexedDbCacheOptions } from './indexedDbCache.js';
export { claimClientIdentity } from './identity.js';
export type { ClientIdentity } from './identity.js';
export { DemoShardUnavailableError, decodeDemoShard, fetchDemoShard } from './demoShard.js';
export type { DemoShard, FetchDemoShardOptions } from './demoShard.js';
export { RefusedError } from '../transport.js';
export type { FedClientEvent } from '../fedClient.js';
export type { LabeledData } from '../../shared/data/types.js';
