/**
 * `fedistill join`: one Node edge client. Loads its private data (a folder or
 * a demo shard), picks the best tfjs backend, joins the coordinator and trains
 * every round it is sampled in until the run ends.
 */
import { hostname } from 'node:os';
import type { LabeledData } from '../shared/data/types.js';
import { selectNodeBackend } from '../node/backend.js';
import type { LoadedData } from '../node/data/index.js';
import { checkSameShape, loadDataSource, requireLabels } from '../node/data/index.js';
import { createRng, splitIndices, subset } from '../shared/data/index.js';
import type { DataFlags } from './dataFlags.js';
import { sourceOptions } from './dataFlags.js';
import { demoSplit, parseDemoShard } from '../node/demo/demoSplit.js';
import { FedClient } from '../client/fedClient.js';
import type { FedClientEvent } from '../client/fedClient.js';
import { SocketTransport } from '../client/socketTransport.js';
import { RefusedError } from '../client/transport.js';
import { FileArtifactCache } from '../client/node/fileArtifactCache.js';
import type { Log } from './consoleLog.js';

export interface JoinOptions {
  server: string;
  /** A data source (a folder, folder:split, a named dataset) or `demo:I/N`. */
  data: string;
  token?: string;
  backend?: string;
  cacheDir?: string;
  name?: string;
  dataSeed?: number;
  demoAlpha?: number;
  protocolVersion?: number;
  /** Labelled held-out data (a data source): the client reports its accuracy on it each round. */
  validationData?: string;
  /** Share of the private data held out as validation data instead, 0 < f < 1. */
  validationFraction?: number;
  /** Seed of that hold-out. Defaults to 0. */
  validationSeed?: number;
  /** CSV options for `data` and `validationData`. */
  dataFlags?: DataFlags;
  log: Log;
}

export function loadClientData(
  spec: string,
  options: { dataSeed?: number; demoAlpha?: number; dataFlags?: DataFlags },
): LabeledData {
  return loadClientSource(spec, options).data;
}

function loadClientSource(
  spec: string,
  options: { dataSeed?: number; demoAlpha?: number; dataFlags?: DataFlags },
): { data: LabeledData; loaded?: LoadedData } {
  const shard = parseDemoShard(spec, hostname());
  if (!shard) {
    const loaded = loadDataSource(spec, sourceOptions(options.dataFlags ?? {}));
    return { data: requireLabels(loaded, '--data'), loaded };
  }
  const split = demoSplit({
    clients: shard.of,
    ...(options.dataSeed !== undefined ? { seed: options.dataSeed } : {}),
    ...(options.demoAlpha !== undefined ? { alpha: options.demoAlpha } : {}),
  });
  return { data: split.shards[shard.index]! };
}

/**
 * The private training data and the validation data the client reports accuracy on:
 * `--validation-data` (checked to have the private data's shape), or a seeded
 * `--validation-fraction` of the private data held out of training.
 */
export function loadTrainAndValidation(options: Omit<JoinOptions, 'server' | 'log'>): {
  train: LabeledData;
  validation?: LabeledData;
  description: string;
} {
  const { data: all, loaded } = loadClientSource(options.data, options);
  if (options.validationData !== undefined && options.validationFraction !== undefined) {
    throw new Error('--validation-data and --validation-fraction are alternatives: give one');
  }
  if (options.validationData !== undefined) {
    const validation = loadDataSource(
      options.validationData,
      sourceOptions(options.dataFlags ?? {}),
    );
    if (loaded) {
      checkSameShape([
        { role: '--data', data: loaded },
        { role: '--validation-data', data: validation },
      ]);
    }
    return {
      train: all,
      validation: requireLabels(validation, '--validation-data'),
      description: `validation ${validation.count} from ${validation.origin}`,
    };
  }
  const fraction = options.validationFraction;
  if (fraction === undefined) return { train: all, description: 'no validation data' };
  if (!(fraction > 0 && fraction < 1)) {
    throw new Error(`--validation-fraction must be between 0 and 1 (exclusive), got ${fraction}`);
  }
  const held = Math.round(all.count * fraction);
  if (held < 1 || held >= all.count) {
    throw new Error(
      `--validation-fraction ${fraction} of ${all.count} samples leaves ${held} for validation and ` +
        `${all.count - held} for training; each needs at least one`,
    );
  }
  const parts = splitIndices(
    all.count,
    { validation: held, train: 'rest' },
    createRng(options.validationSeed ?? 0),
  );
  return {
    train: subset(all, parts.train),
    validation: subset(all, parts.validation),
    description: `validation ${held} held out of the private data (seed ${options.validationSeed ?? 0})`,
  };
}

function describe(event: FedClientEvent): string | undefined {
  switch (event.type) {
    case 'joined':
      return `${event.rejoin ? 'rejoined' : 'joined'} run ${event.runId} as ${event.clientId}`;
    case 'artifacts':
      return `proxy set: ${event.proxyCount} samples, ${event.bytes} bytes${event.fromCache ? ' (cached)' : ''}`;
    case 'round:trained':
      return (
        `round ${event.roundId}: trained ${event.metrics.steps} steps in ${Math.round(event.metrics.trainMillis)} ms, ` +
        `loss ${event.metrics.loss.toFixed(4)}, train accuracy ${(event.metrics.accuracy * 100).toFixed(1)}%` +
        (event.metrics.validationAccuracy !== undefined
          ? `, validation accuracy ${(event.metrics.validationAccuracy * 100).toFixed(2)}%`
          : '')
      );
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

/** Runs a client until the run ends. Resolves to a process exit code. */
export async function runJoin(options: JoinOptions): Promise<number> {
  const backend = await selectNodeBackend({
    ...(options.backend ? { force: options.backend } : {}),
    log: options.log,
  });
  const { train: data, validation, description } = loadTrainAndValidation(options);
  options.log(`private data: ${data.count} samples from ${options.data}; ${description}`);
  const client = new FedClient({
    transport: new SocketTransport({
      url: options.server,
      ...(options.token !== undefined ? { token: options.token } : {}),
      ...(options.protocolVersion !== undefined
        ? { protocolVersion: options.protocolVersion }
        : {}),
    }),
    data,
    ...(validation ? { validation } : {}),
    platform: 'node',
    backend: backend.name,
    ...(options.name !== undefined ? { name: options.name } : {}),
    cache: new FileArtifactCache(options.cacheDir ?? '.fedistill/client-cache'),
    onEvent: (event) => {
      const line = describe(event);
      if (line) options.log(line);
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
      options.log(`refused by coordinator (${error.code}): ${error.message}`);
      return 2;
    }
    throw error;
  }
  const reason = await client.done;
  client.stop();
  return reason === 'completed' || reason === 'stopped' ? 0 : 1;
}
