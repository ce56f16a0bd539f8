/**
 * `fedistill join`: one Node edge client. Loads its private data (a folder or
 * a demo shard), picks the best tfjs backend, joins the coordinator and trains
 * every round it is sampled in until the run ends.
 */
import { hostname } from 'node:os';
import type { LabeledData } from '../shared/data/types.js';
import { selectNodeBackend } from '../node/backend.js';
import { loadDataDir } from '../node/data/index.js';
import { demoSplit, parseDemoShard } from '../node/demo/demoSplit.js';
import { FedClient } from '../client/fedClient.js';
import type { FedClientEvent } from '../client/fedClient.js';
import { SocketTransport } from '../client/socketTransport.js';
import { RefusedError } from '../client/transport.js';
import { FileArtifactCache } from '../client/node/fileArtifactCache.js';
import type { Log, LogCallLevel } from '../node/logger.js';

export interface JoinOptions {
  server: string;
  /** A data folder (IDX pair or data.csv) or `demo:I/N`. */
  data: string;
  token?: string;
  backend?: string;
  cacheDir?: string;
  name?: string;
  dataSeed?: number;
  demoAlpha?: number;
  protocolVersion?: number;
  log: Log;
}

export function loadClientData(
  spec: string,
  options: { dataSeed?: number; demoAlpha?: number },
): LabeledData {
  const shard = parseDemoShard(spec, hostname());
  if (!shard) return loadDataDir(spec);
  const split = demoSplit({
    clients: shard.of,
    ...(options.dataSeed !== undefined ? { seed: options.dataSeed } : {}),
    ...(options.demoAlpha !== undefined ? { alpha: options.demoAlpha } : {}),
  });
  return split.shards[shard.index]!;
}

function describe(event: FedClientEvent): string | undefined {
  switch (event.type) {
    case 'joined':
      return `${event.rejoin ? 'rejoined' : 'joined'} run ${event.runId} as ${event.clientId}`;
    case 'artifacts':
      return `proxy set: ${event.proxyCount} samples, ${event.bytes} bytes${event.fromCache ? ' (cached)' : ''}`;
    case 'round:trained':
      return `round ${event.roundId}: trained ${event.metrics.steps} steps in ${Math.round(event.metrics.trainMillis)} ms, loss ${event.metrics.loss.toFixed(4)}, train accuracy ${(event.metrics.accuracy * 100).toFixed(1)}%`;
    case 'update:accepted':
      return `round ${event.roundId}: update accepted (${event.bytes} bytes)`;
    case 'update:rejected':
      return `round ${event.roundId}: update refused: ${event.code}: ${event.message}`;
    case 'disconnected':
      return `disconnected (${event.reason}); reconnecting`;
    case 'run:end':
      return `run ended (${event.reason})`;
    case 'error':
      return `error: ${event.message}`;
    default:
      return undefined;
  }
}

/** Refusals and errors stand out from the round-by-round lines (a drop is routine: the run's end is one). */
function levelOf(event: FedClientEvent): LogCallLevel {
  if (event.type === 'error') return 'error';
  if (event.type === 'update:rejected') return 'warn';
  return 'info';
}

/** Runs a client until the run ends. Resolves to a process exit code. */
export async function runJoin(options: JoinOptions): Promise<number> {
  const backend = await selectNodeBackend({
    ...(options.backend ? { force: options.backend } : {}),
    log: options.log,
  });
  const data = loadClientData(options.data, options);
  options.log(`private data: ${data.count} samples from ${options.data}`);
  const client = new FedClient({
    transport: new SocketTransport({
      url: options.server,
      ...(options.token !== undefined ? { token: options.token } : {}),
      ...(options.protocolVersion !== undefined
        ? { protocolVersion: options.protocolVersion }
        : {}),
    }),
    data,
    platform: 'node',
    backend: backend.name,
    ...(options.name !== undefined ? { name: options.name } : {}),
    cache: new FileArtifactCache(options.cacheDir ?? '.fedistill/client-cache'),
    onEvent: (event) => {
      const line = describe(event);
      if (line) options.log(line, levelOf(event));
    },
  });
  const stop = () => client.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await client.start();
  } catch (error) {
    client.stop();
    if (error instanceof RefusedError) {
      options.log(`refused by coordinator (${error.code}): ${error.message}`, 'error');
      return 2;
    }
    throw error;
  }
  const reason = await client.done;
  client.stop();
  return reason === 'completed' || reason === 'stopped' ? 0 : 1;
}
