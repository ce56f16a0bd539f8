/**
 * Wires a coordinator together: teacher, soft-label artifacts, SQLite store,
 * HTTP routes and the socket.io server, then listens. The one function the
 * CLI, the demo and the tests call.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Server } from 'socket.io';
import * as tf from '@tensorflow/tfjs';
import type { LabeledData } from '../shared/data/types.js';
import type { ModelSpec } from '../shared/models/index.js';
import { createCodec, createSocketParser } from '../shared/codec/index.js';
import { encodeSoftLabels } from '../shared/softLabels/index.js';
import { decodeProxyInputs, encodeProxyInputs } from '../shared/artifacts/index.js';
import { handshakeAuthSchema, PROTOCOL_VERSION } from '../shared/protocol/index.js';
import type { CoordinatorConfigInput } from './config.js';
import { parseCoordinatorConfig } from './config.js';
import type { CoordinatorEvent } from './coordinator.js';
import type { CoordinatorServer } from './socketHub.js';
import { SocketHub } from './socketHub.js';
import { Coordinator } from './coordinator.js';
import { RunStore } from './store.js';
import { DirectoryCheckpoints } from './checkpoints.js';
import { ArtifactStore } from './artifacts.js';
import { createHttpHandler } from './httpRoutes.js';
import type { Teacher } from './teacher.js';

export interface CoordinatorData {
  /** Public, unlabelled proxy inputs the teacher labels. */
  proxy: { x: Float32Array; count: number; featureShape: number[] };
  /** Held-out labelled test split for evaluation. */
  test: LabeledData;
}

export interface StartCoordinatorOptions {
  config: CoordinatorConfigInput;
  teacher: Teacher;
  studentSpec: ModelSpec;
  data: CoordinatorData;
  log?: (message: string) => void;
  onEvent?: (event: CoordinatorEvent) => void;
}

export interface RunningCoordinator {
  readonly coordinator: Coordinator;
  /** The socket.io server, for namespaces beside the clients' (dashboards) and for tests. */
  readonly io: CoordinatorServer;
  readonly url: string;
  readonly port: number;
  readonly store: RunStore;
  readonly checkpoints: DirectoryCheckpoints;
  readonly teacherAccuracy: number;
  close(): Promise<void>;
}

function argmaxRows(values: Float32Array, numClasses: number): Int32Array {
  const rows = values.length / numClasses;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < numClasses; c++) {
      if (values[r * numClasses + c]! > values[r * numClasses + best]!) best = c;
    }
    out[r] = best;
  }
  return out;
}

function softmaxRows(logits: Float32Array, numClasses: number, temperature: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length / numClasses; r++) {
    let max = -Infinity;
    for (let c = 0; c < numClasses; c++)
      max = Math.max(max, logits[r * numClasses + c]! / temperature);
    let sum = 0;
    for (let c = 0; c < numClasses; c++) {
      const e = Math.exp(logits[r * numClasses + c]! / temperature - max);
      out[r * numClasses + c] = e;
      sum += e;
    }
    for (let c = 0; c < numClasses; c++) out[r * numClasses + c]! /= sum;
  }
  return out;
}

export async function startCoordinator(
  options: StartCoordinatorOptions,
): Promise<RunningCoordinator> {
  const config = parseCoordinatorConfig(options.config);
  const log = options.log ?? (() => undefined);
  const { teacher, studentSpec, data } = options;
  const numClasses = studentSpec.numClasses;
  const codec = createCodec();

  const testLogits = teacher.predictLogits(data.test.x, data.test.count);
  if (testLogits.length !== data.test.count * numClasses) {
    throw new Error(
      `teacher emits ${testLogits.length / data.test.count} classes, the student spec has ${numClasses}`,
    );
  }
  const teacherTestPredictions = argmaxRows(testLogits, numClasses);
  let correct = 0;
  for (let i = 0; i < data.test.count; i++)
    if (teacherTestPredictions[i] === data.test.y[i]) correct += 1;
  const teacherAccuracy = correct / Math.max(1, data.test.count);
  log(
    `teacher: ${teacher.description}, ${teacher.numParams} parameters, test accuracy ${(teacherAccuracy * 100).toFixed(2)}%`,
  );

  const artifacts = new ArtifactStore(join(config.dataDir, 'artifacts'));
  const proxyArtifact = encodeProxyInputs(data.proxy.x, data.proxy.count, data.proxy.featureShape);
  const proxyInputs = await artifacts.put(codec.encode(proxyArtifact));
  // Label what clients will decode, not the original floats, so inputs and soft labels match exactly.
  const proxyX = decodeProxyInputs(proxyArtifact).x;
  const temperature = config.training.temperature;
  const softKey = `${teacher.hash.slice(0, 16)}-${proxyInputs.hash.slice(0, 16)}-T${temperature}-k${config.softLabelTopK}-${config.softLabelPrecision}`;
  let softBytes = await artifacts.getCached(softKey);
  if (softBytes) {
    log(`soft labels: reusing cached set ${softKey}`);
  } else {
    const started = Date.now();
    const logits = teacher.predictLogits(proxyX, data.proxy.count);
    const probs = softmaxRows(logits, numClasses, temperature);
    softBytes = codec.encode(
      encodeSoftLabels(probs, {
        numClasses,
        precision: config.softLabelPrecision,
        ...(config.softLabelTopK > 0 ? { topK: config.softLabelTopK } : {}),
      }),
    );
    await artifacts.setCached(softKey, softBytes);
    log(
      `soft labels: ${data.proxy.count} proxy samples at T=${temperature} in ${Date.now() - started} ms, ${softBytes.byteLength} bytes`,
    );
  }
  const softLabels = { ...(await artifacts.put(softBytes)), temperature };

  const store = new RunStore(join(config.dataDir, 'fedistill.sqlite'));
  const io: CoordinatorServer = new Server({
    parser: createSocketParser({ maxBytes: config.maxMessageBytes }),
    maxHttpBufferSize: config.maxMessageBytes,
    cors: config.corsOrigins.length > 0 ? { origin: config.corsOrigins } : undefined,
  });
  io.use((socket, next) => {
    const auth = handshakeAuthSchema.safeParse(socket.handshake.auth);
    const fail = (code: string, message: string) => {
      const error = new Error(message) as Error & { data?: unknown };
      error.data = { code };
      next(error);
    };
    if (!auth.success)
      return fail('invalid-payload', 'handshake auth must carry { protocolVersion, token? }');
    if (auth.data.protocolVersion !== PROTOCOL_VERSION) {
      return fail(
        'protocol-version',
        `protocol version ${auth.data.protocolVersion} is not supported; this coordinator speaks version ${PROTOCOL_VERSION}`,
      );
    }
    if (config.tokens.length > 0 && !config.tokens.includes(auth.data.token ?? '')) {
      return fail('unauthorized', 'join token missing or not accepted');
    }
    next();
  });

  const runId = randomUUID();
  const checkpoints = new DirectoryCheckpoints(join(config.dataDir, 'runs', runId));
  const coordinator = new Coordinator({
    runId,
    config,
    hub: new SocketHub(io),
    store,
    checkpoints,
    studentSpec,
    test: data.test,
    teacherTestPredictions,
    teacherTestAccuracy: teacherAccuracy,
    teacherHash: teacher.hash,
    proxyInputs,
    softLabels,
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });

  const httpServer = createServer(
    createHttpHandler({
      artifacts,
      tokens: config.tokens,
      status: {
        status: () => coordinator.status(),
        rounds: () => store.rounds(runId),
        clients: () => store.clients(runId),
      },
    }),
  );
  io.attach(httpServer);
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => resolve());
  });
  const port = (httpServer.address() as AddressInfo).port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  log(`coordinator ${coordinator.runId} listening on ${url} (tfjs backend ${tf.getBackend()})`);
  return {
    coordinator,
    io,
    url,
    port,
    store,
    checkpoints,
    teacherAccuracy,
    async close() {
      coordinator.stop();
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
      coordinator.dispose();
      store.close();
    },
  };
}
