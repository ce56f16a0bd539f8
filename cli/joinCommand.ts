/**
 * `fedistill join`: one Node edge client. Loads its private data (a folder or
 * a demo shard), picks the best tfjs backend, joins the coordinator and trains
 * every round it is sampled in until the run ends.
 */
import { hostname } from 'node:os';
import type { LabeledData } from '../shared/data/types.js';
import type { ModelSpec } from '../shared/models/index.js';
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
import { countLabels, withLabelCounts } from '../client/labelCountsTransport.js';
import { RefusedError } from '../client/transport.js';
import { FileArtifactCache } from '../client/node/fileArtifactCache.js';
import type { Log, LogCallLevel } from '../node/logger.js';
import { resolveModelSpec } from './studentSpec.js';
import { DataCheckedTransport, DataMismatchError } from './dataFit.js';
import { fetchRunClassNames, relabelToRun } from './runClasses.js';

/** Exit codes of `fedistill join` besides 0 (the run ended) and 1 (any other failure). */
export const JOIN_EXIT = {
  /** The coordinator refused this client (token, protocol version, excluded). */
  refused: 2,
  /** The private data do not fit the run's student; the coordinator was told (`abstain`). */
  dataMismatch: 3,
  /** The coordinator could not be reached within `--connect-timeout`, or the URL is not one. */
  unreachable: 4,
} as const;

/** `--connect-timeout` when none is given. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 60_000;

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
  /**
   * This client's own student (`mlp:H1,H2`, `cnn` or a spec JSON file), sized to the run's input
   * and classes, for strategies where no weights travel. Defaults to the run's student.
   */
  student?: string;
  /** How long to keep trying to reach the coordinator before giving up. Defaults to 60 s. */
  connectTimeoutMs?: number;
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

/** The coordinator's base URL, or why `server` is not one. */
export function parseServerUrl(server: string): URL | string {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    return `--server ${JSON.stringify(server)} is not a URL (expected e.g. http://127.0.0.1:8080)`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return `--server ${JSON.stringify(server)} must be an http:// or https:// URL, not ${url.protocol}`;
  return url;
}

/**
 * Waits until the coordinator answers GET /healthz, retrying with exponential backoff (250 ms
 * doubling to 5 s) and saying so; throws once `timeoutMs` has passed with the last cause.
 */
export async function waitForCoordinator(url: URL, timeoutMs: number, log: Log): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const health = new URL('/healthz', url);
  let delay = 250;
  let attempt = 1;
  log(`connecting to ${url.origin} (giving up after ${Math.round(timeoutMs / 1000)} s)`);
  for (;;) {
    let cause: string;
    try {
      // Each attempt gets a second at least, so the last one before the deadline is a real try.
      const response = await fetch(health, {
        signal: AbortSignal.timeout(Math.max(1_000, Math.min(5_000, deadline - Date.now()))),
      });
      await response.body?.cancel();
      if (response.ok) return;
      cause = `GET ${health.pathname} answered ${response.status} ${response.statusText}`;
    } catch (error) {
      const err = error as Error & { cause?: { code?: string; message?: string } };
      cause =
        err.name === 'TimeoutError'
          ? 'no answer within the attempt'
          : (err.cause?.code ?? err.cause?.message ?? err.message);
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new UnreachableError(
        `could not reach the coordinator at ${url.origin} within ${Math.round(timeoutMs / 1000)} s (${attempt} attempts; last: ${cause})`,
      );
    }
    const wait = Math.min(delay, left);
    log(
      `coordinator at ${url.origin} not reachable (${cause}); retry ${attempt} in ${(wait / 1000).toFixed(1)} s`,
    );
    await new Promise((resolve) => setTimeout(resolve, wait));
    delay = Math.min(5_000, delay * 2);
    attempt += 1;
  }
}

/** The coordinator did not answer in time (or the URL is not one). */
export class UnreachableError extends Error {
  override readonly name = 'UnreachableError';
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
  /** Class names by label of the private data (an image folder) and of the validation data. */
  classNames?: readonly string[];
  validationClassNames?: readonly string[];
} {
  const { data: all, loaded } = loadClientSource(options.data, options);
  // An image folder's labels are its class folders' indices: shown, since a folder lacking a
  // class shifts every later one unless the run's names are given (--classes).
  const named = loaded?.classNames ? { classNames: loaded.classNames } : {};
  const labelsLine = loaded?.classNames
    ? `; labels by class folder${options.dataFlags?.classes ? ' (--classes)' : " (this folder's own sorted names, unless the coordinator names the run's)"}: ${describeLabels(loaded.classNames)}`
    : '';
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
      ...named,
      ...(validation.classNames ? { validationClassNames: validation.classNames } : {}),
      train: all,
      validation: requireLabels(validation, '--validation-data'),
      description: `validation ${validation.count} from ${validation.origin}${labelsLine}`,
    };
  }
  const fraction = options.validationFraction;
  if (fraction === undefined)
    return { ...named, train: all, description: `no validation data${labelsLine}` };
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
    ...named,
    ...(loaded?.classNames ? { validationClassNames: loaded.classNames } : {}),
    train: subset(all, parts.train),
    validation: subset(all, parts.validation),
    description: `validation ${held} held out of the private data (seed ${options.validationSeed ?? 0})${labelsLine}`,
  };
}

function describeLabels(classNames: readonly string[]): string {
  const shown = classNames.slice(0, 20).map((name, i) => `${i} ${name}`);
  if (classNames.length > 20) shown.push(`… ${classNames.length - 20} more`);
  return shown.join(', ');
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

/** Refusals and errors stand out from the round-by-round lines (a drop is routine: the run's end is one). */
function levelOf(event: FedClientEvent): LogCallLevel {
  if (event.type === 'error') return 'error';
  if (event.type === 'update:rejected') return 'warn';
  return 'info';
}

/** Runs a client until the run ends. Resolves to a process exit code. */
export async function runJoin(options: JoinOptions): Promise<number> {
  const url = parseServerUrl(options.server);
  if (typeof url === 'string') {
    options.log(`error: ${url}`, 'error');
    return JOIN_EXIT.unreachable;
  }
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const backend = await selectNodeBackend({
    ...(options.backend ? { force: options.backend } : {}),
    log: options.log,
  });
  const {
    train: data,
    validation,
    description,
    classNames,
    validationClassNames,
  } = loadTrainAndValidation(options);
  options.log(`private data: ${data.count} samples from ${options.data}; ${description}`);
  const transport = new SocketTransport({
    url: options.server,
    // A coordinator restarted between the join and the downloads gets as long as a first connect.
    artifactRetryMs: connectTimeoutMs,
    ...(options.token !== undefined ? { token: options.token } : {}),
    ...(options.protocolVersion !== undefined ? { protocolVersion: options.protocolVersion } : {}),
  });
  const checked = new DataCheckedTransport(transport, data);
  const labelCounts = countLabels(data);
  const client = new FedClient({
    // The label histogram goes with the join, for the dashboard's view of this client's skew;
    // the data are checked against the student named in the join ack before anything trains.
    transport: withLabelCounts(checked, labelCounts),
    data,
    ...(options.student !== undefined
      ? {
          studentSpec: (run: ModelSpec) =>
            resolveModelSpec(options.student!, run.inputShape, run.numClasses),
        }
      : {}),
    ...(validation ? { validation } : {}),
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
  let startTimer: ReturnType<typeof setTimeout> | undefined;
  try {
    const started = Date.now();
    await waitForCoordinator(url, connectTimeoutMs, options.log);
    if (classNames && !options.dataFlags?.classes) {
      // An image folder without --classes: take the run's class indices where it names them.
      const run = await fetchRunClassNames(url);
      if (run) {
        const unknown = [
          ...relabelToRun(data, classNames, run),
          ...(validation && validationClassNames
            ? relabelToRun(validation, validationClassNames, run)
            : []),
        ];
        if (unknown.length > 0)
          checked.refuseWith(
            `class folder${unknown.length > 1 ? 's' : ''} ${[...new Set(unknown)].map((n) => `'${n}'`).join(', ')} of the private data are not among the run's classes (${run.join(', ')})`,
          );
        else {
          labelCounts.splice(0, labelCounts.length, ...countLabels(data));
          options.log(
            `labels by class folder (the run's, from the coordinator): ${classNames.map((name) => `${run.indexOf(name)} ${name}`).join(', ')}`,
          );
        }
      }
    }
    // Reachable, but the socket.io connection and join may still not complete (a proxy that
    // passes HTTP only, a server that is not a coordinator): hold them to what is left.
    const left = Math.max(1_000, connectTimeoutMs - (Date.now() - started));
    await Promise.race([
      client.start(),
      new Promise<never>((_, reject) => {
        startTimer = setTimeout(
          () =>
            reject(
              new UnreachableError(
                `${url.origin} answers HTTP but no join completed within ${Math.round(connectTimeoutMs / 1000)} s`,
              ),
            ),
          left,
        );
      }),
    ]);
  } catch (error) {
    client.stop();
    if (error instanceof RefusedError) {
      options.log(`refused by coordinator (${error.code}): ${error.message}`, 'error');
      return JOIN_EXIT.refused;
    }
    if (error instanceof DataMismatchError) {
      options.log(
        `error: this client's data do not fit the run's student: ${error.message}. Told the coordinator (abstain); exiting.`,
        'error',
      );
      return JOIN_EXIT.dataMismatch;
    }
    if (error instanceof UnreachableError) {
      options.log(`error: ${error.message}`, 'error');
      return JOIN_EXIT.unreachable;
    }
    options.log(`cannot take part: ${(error as Error).message}`, 'error');
    return 1;
  } finally {
    clearTimeout(startTimer);
  }
  if (client.student) options.log(`student: ${client.student.name ?? 'custom'}`);
  const reason = await client.done;
  client.stop();
  return reason === 'completed' || reason === 'stopped' ? 0 : 1;
}
