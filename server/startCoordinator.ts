/**
 * A coordinator on the network: the prepared run (prepareRun.ts) behind a
 * socket.io server with its auth middleware, the artifact and JSON routes and
 * the dashboard, listening. The one function the CLI, the demo and the tests call.
 *
 * The HTTP server and the dashboard outlive the run: they answer until
 * `close()`, and `linger()` is how the CLI keeps them up for the configured
 * `lingerAfterRunMs` after the end-of-run work.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import * as tf from '@tensorflow/tfjs';
import type { LabeledData } from '../shared/data/types.js';
import type { ModelSpec } from '../shared/models/index.js';
import { createSocketParser } from '../shared/codec/index.js';
import { handshakeAuthSchema, PROTOCOL_VERSION } from '../shared/protocol/index.js';
import type { CoordinatorConfigInput } from './config.js';
import { parseCoordinatorConfig } from './config.js';
import type { CoordinatorEvent } from './coordinator.js';
import type { CoordinatorServer } from './socketHub.js';
import { SocketHub } from './socketHub.js';
import type { Coordinator } from './coordinator.js';
import type { CoordinatorData } from './prepareRun.js';
import { createCoordinator, prepareRun } from './prepareRun.js';
import type { RunStore } from './store.js';
import type { DirectoryCheckpoints } from './checkpoints.js';
import { createHttpHandler } from './httpRoutes.js';
import { JoinAuthority } from './auth.js';
import { loadTokensFile } from './tokensFile.js';
import { PenaltyBox, handshakeAddress, penaltySource } from './penaltyBox.js';
import { latestStudent } from './adminRoutes.js';
import type { Teacher } from './teachers/index.js';
import type { Log } from '../node/logger.js';
import { DashboardHub } from './dashboard/hub.js';
import { DemoShards } from './dashboard/demoShards.js';
import { meanCrossEntropy } from './dashboard/metrics.js';
import { createDashboardRoutes } from './dashboard/routes.js';
import { ClientTelemetry } from './dashboard/clientTelemetry.js';
import { RunHistory } from './dashboard/history.js';
import type { RunSummary } from './summary.js';
import { CoordinatorMetrics } from './metrics/coordinatorMetrics.js';
import type { MetricsServer } from './metrics/metricsServer.js';
import { startMetricsServer } from './metrics/metricsServer.js';
import type { ClientHub } from './clientHub.js';
import type { MasterEdgeOptions } from './edges/masterEdges.js';
import { MasterEdges } from './edges/masterEdges.js';
import { combineHubs } from './edges/edgeHub.js';
import { edgesConflict } from './edges/edgeAggregation.js';

export type { CoordinatorData };

export interface StartCoordinatorOptions {
  config: CoordinatorConfigInput;
  teacher: Teacher;
  studentSpec: ModelSpec;
  data: CoordinatorData;
  /** Info lines (and a warning per cut-off); defaults to none. */
  log?: Log;
  onEvent?: (event: CoordinatorEvent) => void;
  /** Client shards a browser page may fetch at `/api/demo-shard` (demo runs on the embedded split only). */
  demoShards?: LabeledData[];
  /** Aggregate over `fedistill edge` processes reached through Redis (docs/scaling.md). */
  edges?: MasterEdgeOptions;
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
  /** Shows the end-of-run summary on the dashboard. */
  publishSummary(summary: RunSummary): void;
  /**
   * Keeps serving after the run for `lingerAfterRunMs` (or until `endLinger()` / `close()`
   * when 'forever'); resolves at once when it is 0. The event loop stays free meanwhile.
   */
  linger(): Promise<void>;
  /** The configured `lingerAfterRunMs`. */
  readonly lingerAfterRunMs: number | 'forever';
  /** Ends a linger early (Ctrl-C). */
  endLinger(): void;
  /** Prometheus metrics fed by the coordinator's events (server/metrics/). */
  readonly metrics: CoordinatorMetrics;
  /** Where /metrics is scraped: the metrics address when `metricsPort` is set, else `${url}/metrics` (admin token). */
  readonly metricsUrl: string;
  /** The edges' control plane, when the run aggregates over edges. */
  readonly edges?: MasterEdges;
  close(): Promise<void>;
}

export async function startCoordinator(
  options: StartCoordinatorOptions,
): Promise<RunningCoordinator> {
  const log = options.log ?? (() => undefined);
  const { teacher, studentSpec, data } = options;
  const numClasses = studentSpec.numClasses;
  if (options.edges) {
    const conflict = edgesConflict(parseCoordinatorConfig(options.config));
    if (conflict) throw new Error(conflict);
  }
  const run = await prepareRun(options);
  const { config, store, artifacts, runId, checkpoints, teacherAccuracy } = run;
  let edges: MasterEdges | undefined;
  if (options.edges) {
    try {
      edges = await MasterEdges.start(options.edges, { runId, store, log });
      await edges.publishArtifacts(
        [run.proxyInputs, run.softLabels, ...(run.teacherFeatures ? [run.teacherFeatures] : [])],
        artifacts,
      );
    } catch (error) {
      await edges?.close();
      store.close();
      throw error;
    }
    log(`edges: control plane on Redis, cluster ${options.edges.cluster ?? 'default'}`);
  }
  // Past this point the edges' Redis connections and reading loop are running: a start that
  // fails must close them, or the process keeps them (and the loop) alive.
  try {
    const testLogits = run.teacherTestLogits;
    const authority = new JoinAuthority({
      tokens: config.tokens,
      ...(config.tokensFile ? { clientTokens: loadTokensFile(config.tokensFile) } : {}),
      known: store.clients(runId),
    });

    const io: CoordinatorServer = new Server({
      parser: createSocketParser({ maxBytes: config.maxMessageBytes }),
      maxHttpBufferSize: config.maxMessageBytes,
      // An engine.io connection that never opens the main namespace is closed as soon.
      connectTimeout: config.joinTimeoutMs,
      cors: config.corsOrigins.length > 0 ? { origin: config.corsOrigins } : undefined,
    });
    const penalties = new PenaltyBox({
      baseMs: config.cutOffCooldownMs,
      maxMs: config.maxCutOffCooldownMs,
      maxEntries: config.maxPenalizedSources,
    });
    io.use((socket, next) => {
      const auth = handshakeAuthSchema.safeParse(socket.handshake.auth);
      const fail = (code: string, message: string, extra: Record<string, unknown> = {}) => {
        const error = new Error(message) as Error & { data?: unknown };
        error.data = { code, ...extra };
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
      const identity = authority.authenticate(auth.data.token);
      if (!identity) return fail('unauthorized', 'join token missing or not accepted');
      const source = penaltySource(
        identity.principal,
        handshakeAddress(socket.handshake, config.trustProxy),
      );
      const wait = penalties.remaining(source);
      if (wait > 0) {
        return fail(
          'rate-limited',
          `a connection from this ${identity.principal !== null ? 'client token' : 'address'} was cut off for refused messages; retry in ${Math.ceil(wait / 1000)} s`,
          { retryAfterMs: wait },
        );
      }
      socket.data.source = source;
      if (identity.principal !== null) socket.data.tokenName = identity.principal;
      authority.guard(socket, identity.principal);
      next();
    });

    // Label histograms and local metrics off accepted joins and updates, for the per-client view.
    const telemetry = new ClientTelemetry();
    const socketHub = new SocketHub(io, {
      joinTimeoutMs: config.joinTimeoutMs,
      onCutOff: ({ source }) => {
        if (source === undefined) return;
        const cooldown = penalties.penalize(source);
        if (cooldown > 0)
          log(`cut-off: refusing ${source} for ${Math.ceil(cooldown / 1000)} s`, 'warn');
      },
    });
    const observed = telemetry.observe(socketHub);
    const hub: ClientHub = edges ? combineHubs(observed, telemetry.observe(edges.hub)) : observed;
    const coordinator = createCoordinator(
      run,
      hub,
      options.onEvent,
      edges
        ? (strategy, secure) =>
            edges.wrap(
              strategy,
              config.updateBound,
              config.secureAggregation
                ? { config: config.secureAggregation, hooks: secure }
                : undefined,
            )
        : undefined,
    );
    if (edges) {
      // Redis away past its limit: the run ends as a stopped one, which --resume continues.
      edges.onGiveUp(() => coordinator.stop());
      edges.greetEdges();
    }
    const metrics = new CoordinatorMetrics({
      runId,
      roundsPlanned: config.rounds,
      teacherAccuracy,
    });
    metrics.resumeFrom(coordinator.roundHistory());
    // The coordinator's emit does not catch: a metric must never break a round.
    const unsubscribeMetrics = coordinator.subscribe((event) => {
      try {
        metrics.observe(event);
      } catch (error) {
        log(`metrics: ${event.type} not counted: ${(error as Error).message}`, 'warn');
      }
    });

    const demoShards = new DemoShards(options.demoShards ?? [], data.proxy.featureShape);
    const dashboard = new DashboardHub({
      coordinator,
      store,
      io,
      teacher: {
        description: teacher.description,
        accuracy: teacherAccuracy,
        loss: meanCrossEntropy(testLogits, data.test.y, numClasses),
      },
      demoShards: demoShards.count,
      runDir: checkpoints.runDir,
      telemetry,
    });
    const history = new RunHistory({
      databasePath: store.path,
      simulationDirs: config.simulationResultsDirs,
    });
    const httpServer = createServer(
      createHttpHandler({
        artifacts,
        tokens: authority.joinTokens,
        ...(config.adminToken
          ? {
              admin: {
                token: config.adminToken,
                runId,
                stop: () => {
                  coordinator.stop();
                  return { stopping: true, ...coordinator.status() };
                },
                status: () => coordinator.status(),
                latestStudent: () => latestStudent(checkpoints, coordinator.finished),
              },
            }
          : {}),
        ...(config.metricsPort === undefined && config.adminToken
          ? { metrics: { source: metrics, token: config.adminToken } }
          : {}),
        status: {
          status: () => ({
            ...coordinator.status(),
            unjoinedClosed: socketHub.unjoinedClosed,
            ...(edges ? { edges: edges.status() } : {}),
          }),
          rounds: () => store.rounds(runId),
          clients: () => store.clients(runId),
        },
        fallback: createDashboardRoutes({
          hub: dashboard,
          store,
          runId,
          tokens: authority.joinTokens,
          demoShards,
          telemetry,
          history,
          runDir: checkpoints.runDir,
        }),
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
    let endLinger: (() => void) | undefined;
    let metricsServer: MetricsServer | undefined;
    if (config.metricsPort !== undefined) {
      try {
        metricsServer = await startMetricsServer({
          host: config.metricsHost,
          port: config.metricsPort,
          metrics,
        });
      } catch (error) {
        // Nothing may stay listening when the coordinator fails to start.
        await new Promise<void>((resolve) => io.close(() => resolve()));
        coordinator.dispose();
        store.close();
        throw new Error(
          `metricsPort ${config.metricsPort} on ${config.metricsHost}: ${(error as Error).message}`,
          { cause: error },
        );
      }
      log(`metrics: ${metricsServer.url}`);
    } else if (config.adminToken) log(`metrics: ${url}/metrics (bearer admin token)`);
    const metricsUrl = metricsServer?.url ?? `${url}/metrics`;
    return {
      coordinator,
      io,
      url,
      port,
      store,
      checkpoints,
      teacherAccuracy,
      publishSummary: (summary) => dashboard.setSummary(summary),
      lingerAfterRunMs: config.lingerAfterRunMs,
      linger() {
        const ms = config.lingerAfterRunMs;
        if (ms === 0) return Promise.resolve();
        dashboard.note(
          ms === 'forever'
            ? 'the run has ended; the dashboard stays up until the coordinator is stopped'
            : `the run has ended; the dashboard stays up for ${Math.round(ms / 1000)} s`,
        );
        return new Promise<void>((resolve) => {
          const timer = ms === 'forever' ? undefined : setTimeout(() => endLinger?.(), ms);
          endLinger = () => {
            clearTimeout(timer);
            endLinger = undefined;
            resolve();
          };
        });
      },
      endLinger: () => endLinger?.(),
      metrics,
      metricsUrl,
      ...(edges ? { edges } : {}),
      async close() {
        endLinger?.();
        coordinator.stop();
        unsubscribeMetrics();
        await metricsServer?.close();
        dashboard.close();
        history.close();
        io.disconnectSockets(true);
        // io.close() also closes the HTTP server it is attached to.
        await new Promise<void>((resolve) => io.close(() => resolve()));
        await edges?.close();
        coordinator.dispose();
        store.close();
      },
    };
  } catch (error) {
    await edges
      ?.close()
      .catch((closing: Error) => log(`edges: closing: ${closing.message}`, 'warn'));
    throw error;
  }
}
