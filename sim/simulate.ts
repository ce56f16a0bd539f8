/**
 * Runs a simulation: one split and one teacher, then for every seed and
 * strategy a coordinator run (prepareRun + createCoordinator over a SimHub)
 * with the configured number of virtual clients spread over worker threads —
 * or, for `central`, the student distilled on the pooled data. Writes the run
 * directory: config.json, metrics.jsonl, summary.md, rounds.svg, result.json,
 * and the coordinator's own data dir (SQLite, checkpoints) under coordinator/.
 */
import { mkdir, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelSpec } from '../shared/models/index.js';
import { deriveSeed } from '../shared/data/index.js';
import { findStrategy, strategyNames } from '../server/strategies/index.js';
import { argmaxRows, matchRate } from '../shared/predictions/index.js';
import { selectNodeBackend } from '../node/backend.js';
import type { Log } from '../node/logger.js';
import type { Progress, ProgressTask } from '../node/progress.js';
import type { CoordinatorConfigInput } from '../server/config.js';
import type { CoordinatorEvent } from '../server/coordinator.js';
import { loadOrTrainDefaultTeacher } from '../server/defaultTeacher.js';
import { createCoordinator, prepareRun } from '../server/prepareRun.js';
import type { RoundRecord } from '../server/store.js';
import type { Teacher } from '../server/teachers/index.js';
import { checkTeacherFitsData, loadTeacherFile } from '../server/teachers/index.js';
import type { SimConfig, SimStrategy } from './config.js';
import { resolveSpec } from './config.js';
import { checkSpecsFitData, partitionClients, splitSimData } from './data.js';
import type { SimSplit } from './data.js';
import { runCentral } from './central.js';
import { ClientPool, defaultThreads } from './clientPool.js';
import type { SimClientPool } from './clientPool.js';
import { RedisClientPool } from './redisPool.js';
import type { RedisPoolOptions, RedisPoolStats } from './redisPool.js';
import { probeRedis } from '../node/redis.js';
import { SimHub } from './simHub.js';
import type { TappedMessage } from './simHub.js';
import type { SimRoundMetrics, SimRunResult, StrategySummary } from './results.js';
import { pct, strategyTable, summarizeStrategies } from './results.js';
import { renderRoundsChart } from './plot.js';

export interface SimulationOptions {
  config: SimConfig;
  /** Exact run directory. Defaults to `<outDir>/<name>-<UTC time>`. */
  runDir?: string;
  log?: Log;
  /**
   * Teacher training and the overall progress across runs (the CLI's display); with it,
   * the per-round lines drop to debug. Defaults to none.
   */
  progress?: Progress;
  /** Called after every round of every run. */
  onRound?: (metrics: SimRoundMetrics) => void;
  /** Every coordinator event of every run, tagged with its strategy and seed (tests). */
  onCoordinatorEvent?: (strategy: SimStrategy, seed: number, event: CoordinatorEvent) => void;
  /** Every message between the coordinator and a client, both ways (tests, debugging). */
  onMessage?: (strategy: SimStrategy, seed: number, message: TappedMessage) => void;
  /** Write the run directory. Defaults to true. */
  writeOutputs?: boolean;
  /**
   * Train the virtual clients on `fedistill worker` processes through this Redis server instead
   * of worker threads (docs/scaling.md). Defaults to worker threads.
   */
  redis?: Omit<RedisPoolOptions, 'backend' | 'log'>;
}

/**
 * Whether a strategy's rounds carry the global weights: then a client's round needs nothing from
 * its earlier rounds, so it can train on any worker. The others (local, fedmd, dsfl) train each
 * client's own model on from round to round, which lives in one place.
 */
export function runsOnRedis(strategy: SimStrategy): boolean {
  return strategy === 'central' || findStrategy(strategy)?.capabilities.globalModel === true;
}

/** Throws an error naming the field when `config` cannot run on Redis workers. */
export function checkRedisConfig(config: SimConfig): void {
  const unfit = config.strategy.filter((s) => !runsOnRedis(s));
  if (unfit.length > 0)
    throw new Error(
      `strategy: ${unfit.join(', ')} train(s) each client's own model on between rounds, which cannot move between Redis workers; --redis runs ${[...strategyNames(), 'central'].filter(runsOnRedis).join(', ')}`,
    );
  // A hint regressor and a self EMA live on the client from round to round, like a local model.
  (config.training.distillation ?? []).forEach((term, index) => {
    if (term.name === 'hint' || (term.name === 'self' && term.ema !== undefined))
      throw new Error(
        `training.distillation[${index}]: the ${term.name} term keeps client state between rounds (${term.name === 'hint' ? 'its regressor' : 'its EMA'}), which cannot move between Redis workers`,
      );
  });
  if (config.secureAggregation)
    throw new Error(
      'secureAggregation: secure rounds need every sampled client online together; --redis does not run them yet',
    );
}

export interface SimulationResult {
  runDir: string;
  config: SimConfig;
  backend: string;
  /** Worker threads, or the Redis workers connected when the simulation started. */
  threads: number;
  /** Where the clients ran ("2 worker threads", "workers over Redis at …"). */
  clientsOn: string;
  /** Jobs and bytes through Redis, when the clients ran on Redis workers. */
  redis?: RedisPoolStats;
  teacher: {
    description: string;
    parameters: number;
    accuracy: number;
    /** Whether the teacher was loaded from the cache, trained by an earlier run. */
    fromCache?: boolean;
    /** Seconds its training took (in this run or the earlier one); null when not recorded. */
    trainSeconds?: number | null;
  };
  data: {
    teacher: number;
    proxy: number;
    clientPool: number;
    test: number;
    /** Where the samples came from (source, subsample, test source). */
    origin: string;
    inputShape: number[];
    numClasses: number;
    /** Class names by label index, when the source names them (image class folders). */
    classNames?: string[];
  };
  /** Client shard sizes and label skew (mean total-variation distance) per seed. */
  partitions: { seed: number; sizes: number[]; meanSkew: number }[];
  runs: SimRunResult[];
  summaries: StrategySummary[];
  /** Paths written, when `writeOutputs`. */
  files: { metrics: string; summary: string; plot: string; result: string } | undefined;
}

function timestamp(): string {
  return new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** Refusals an asynchronous run makes by design: too stale, or while a buffer is applied. */
function expectedRefusal(code: string): boolean {
  return code === 'stale-model' || code === 'too-late';
}

function metricsOf(strategy: SimStrategy, seed: number, record: RoundRecord): SimRoundMetrics {
  return {
    strategy,
    seed,
    round: record.round,
    status: record.status,
    studentAccuracy: record.studentAccuracy,
    studentLoss: record.studentLoss,
    agreement: record.agreement,
    teacherAccuracy: record.teacherAccuracy,
    sampled: record.sampled,
    participants: record.participants,
    bytesDownPerClient: record.bytesDownPerClient,
    bytesUpPerClient: record.bytesUpPerClient,
    meanClientLoss: record.meanClientLoss,
    durationMs: record.durationMs,
    ...(typeof record.meanStaleness === 'number' ? { meanStaleness: record.meanStaleness } : {}),
    ...(typeof record.maxStaleness === 'number' ? { maxStaleness: record.maxStaleness } : {}),
  };
}

/** The coordinator settings of one federated run. */
export function coordinatorConfigFor(
  config: SimConfig,
  strategy: Exclude<SimStrategy, 'central'>,
  seed: number,
  dataDir: string,
): CoordinatorConfigInput {
  const { training } = config;
  return {
    dataDir,
    rounds: config.rounds,
    fraction: config.participation.fraction,
    minClients: Math.min(config.clients, config.participation.minClients),
    // The simulation starts rounds only once every client has joined and loaded its artifacts.
    waitForClientsMs: 0,
    // No wall-clock deadline: a virtual client that fails aborts the run instead.
    roundTimeoutMs: 7 * 24 * 3600 * 1000,
    quorum: 1,
    maxFailedRounds: 1,
    seed,
    training: {
      epochs: training.epochs,
      batchSize: training.batchSize,
      learningRate: training.learningRate,
      temperature: training.temperature,
      alpha: training.alpha,
      optimizer: training.optimizer,
      updatePrecision: training.updatePrecision,
      ...(training.proximalMu > 0 ? { proximalMu: training.proximalMu } : {}),
      ...(training.distillation ? { distillation: training.distillation } : {}),
    },
    teacherFeatures: config.teacherFeatures,
    strategy,
    aggregator: config.aggregator,
    ...(config.secureAggregation ? { secureAggregation: config.secureAggregation } : {}),
    serverOptimizer: config.serverOptimizer,
    logitExchange: config.logitExchange,
    ensembleDistillation: config.ensembleDistillation,
    fedbuff: config.fedbuff,
    softLabelPrecision: config.softLabelPrecision,
  };
}

interface RunContext {
  config: SimConfig;
  split: SimSplit;
  teacher: Teacher;
  teacherAccuracy: number;
  studentSpec: ModelSpec;
  clientSpecs: ModelSpec[] | undefined;
  pool: SimClientPool;
  coordinatorDir: string;
  log: Log;
  onRound: (metrics: SimRoundMetrics) => void;
  onCoordinatorEvent?: SimulationOptions['onCoordinatorEvent'];
  onMessage?: SimulationOptions['onMessage'];
}

/** A federated run: coordinator + hub in this thread, the clients in the pool. */
async function runFederated(
  ctx: RunContext,
  strategy: Exclude<SimStrategy, 'central'>,
  seed: number,
): Promise<SimRunResult> {
  const { config, split } = ctx;
  const started = Date.now();
  const run = await prepareRun({
    config: coordinatorConfigFor(config, strategy, seed, ctx.coordinatorDir),
    teacher: ctx.teacher,
    studentSpec: ctx.studentSpec,
    data: {
      proxy: { x: split.proxy.x, count: split.proxy.count, featureShape: split.inputShape },
      test: split.test,
    },
  });
  const onMessage = ctx.onMessage;
  // Asynchronous rounds take updates as they come: holding them for a round's other clients
  // (the hub's ordering, which makes synchronous runs repeat bit for bit) would wait for the slow.
  const asynchronous = findStrategy(strategy)?.capabilities.asynchronous === true;
  const hub = new SimHub({
    artifact: (hash) => run.artifacts.get(hash),
    orderUpdates: !asynchronous,
    ...(onMessage ? { tap: (message: TappedMessage) => onMessage(strategy, seed, message) } : {}),
  });
  const rounds: SimRoundMetrics[] = [];
  let failure: string | undefined;
  let failed: (message: string) => void = () => undefined;
  const failedPromise = new Promise<never>((_, reject) => {
    failed = (message) => reject(new Error(message));
  });
  failedPromise.catch(() => undefined);
  const coordinator = createCoordinator(run, hub, (event) => {
    ctx.onCoordinatorEvent?.(strategy, seed, event);
    if (event.type === 'round:closed') {
      const metrics = metricsOf(strategy, seed, event.record);
      rounds.push(metrics);
      ctx.onRound(metrics);
    }
  });
  const fail = (message: string) => {
    if (failure !== undefined) return;
    failure = message;
    failed(message);
    coordinator.stop();
  };
  const slowCount = Math.ceil(config.slowClients.fraction * config.clients);
  // Asynchronous rounds refuse (and record) updates that come too stale or while a buffer is
  // being applied; the client is sent the current model and goes on.
  let ready = 0;
  let allReady: () => void = () => undefined;
  const readyPromise = new Promise<void>((resolve) => (allReady = resolve));
  const session = ctx.pool.startSession(
    hub,
    Array.from({ length: config.clients }, (_, index) => ({
      index,
      clientId: `c${String(index).padStart(4, '0')}`,
      name: `sim-${index}`,
      seed: deriveSeed(seed, 'clients', index),
      ...(ctx.clientSpecs ? { studentSpec: ctx.clientSpecs[index % ctx.clientSpecs.length]! } : {}),
      ...(index < slowCount ? { updateDelayMs: config.slowClients.updateDelayMs } : {}),
    })),
    {
      onClientEvent: (index, event) => {
        if (event.type === 'artifacts' && ++ready === config.clients) allReady();
        else if (event.type === 'error') fail(`client ${index}: ${event.message}`);
        else if (event.type === 'update:rejected' && !(asynchronous && expectedRefusal(event.code)))
          fail(
            `client ${index}: update of round ${event.roundId} refused (${event.code}: ${event.message})`,
          );
      },
      onFailure: fail,
    },
  );
  let status: SimRunResult['status'] = 'failed';
  try {
    await Promise.race([readyPromise, failedPromise]);
    const result = await Promise.race([coordinator.run(), failedPromise]);
    status = failure !== undefined ? 'failed' : result.status;
  } catch (error) {
    failure ??= (error as Error).message;
    ctx.log(`${strategy} (seed ${seed}) failed: ${failure}`, 'error');
  } finally {
    ctx.pool.stopSession(session);
    hub.close();
  }
  const summary: SimRunResult = {
    strategy,
    seed,
    status,
    ...(failure !== undefined ? { error: failure } : {}),
    rounds,
    studentParams: coordinator.studentParams,
    artifactBytes: coordinator.artifactBytes,
    wallMs: Date.now() - started,
  };
  coordinator.dispose();
  run.store.close();
  return summary;
}

export async function runSimulation(options: SimulationOptions): Promise<SimulationResult> {
  const { config } = options;
  const log = options.log ?? (() => undefined);
  const writeOutputs = options.writeOutputs ?? true;
  const runDir = options.runDir ?? join(config.outDir, `${config.name}-${timestamp()}`);
  if (options.redis) {
    checkRedisConfig(config);
    // Before the teacher trains: an unreachable server fails at once, naming the URL.
    await probeRedis(options.redis.url);
  }
  const backend = await selectNodeBackend({
    ...(config.backend !== undefined ? { force: config.backend } : {}),
    log,
  });

  const split = splitSimData(config);
  log(
    `data: ${split.origin}: teacher ${split.teacherTrain.count}, proxy ${split.proxy.count}, ` +
      `client pool ${split.clientPool.count}, test ${split.test.count}`,
  );
  const progress = options.progress;
  const {
    teacher,
    spec: teacherSpec,
    training: teacherTraining,
  } = await simTeacher(config, split, log, progress);
  const threads =
    config.workers === 'auto'
      ? defaultThreads(config.clients)
      : Math.min(config.workers, config.clients);
  let pool: SimClientPool | undefined;
  let redisPool: RedisClientPool | undefined;
  let runBar: ProgressTask | undefined;
  try {
    // Before any inference: a teacher file for other data fails here, naming the file.
    checkTeacherFitsData(teacher, {
      featureSize: split.inputShape.reduce((a, b) => a * b, 1),
      numClasses: split.numClasses,
      source: split.origin,
    });
    const testLogits = await teacher.logits(split.test.x, split.test.count);
    const teacherAccuracy = matchRate(argmaxRows(testLogits, split.numClasses), split.test.y);
    log(
      `teacher: ${teacher.description}, ${teacher.numParams} parameters, test accuracy ${pct(teacherAccuracy)}`,
    );
    const studentSpec = resolveSpec(config.student, split.inputShape, split.numClasses);
    const clientSpecs = config.clientStudents?.map((s) =>
      resolveSpec(s, split.inputShape, split.numClasses),
    );
    checkSpecsFitData(split, [
      ...(teacherSpec ? [['teacher.spec', teacherSpec] as [string, ModelSpec]] : []),
      ['student', studentSpec],
      ...(clientSpecs ?? []).map(
        (spec, i) => [`clientStudents[${i}]`, spec] as [string, ModelSpec],
      ),
    ]);

    if (options.redis) {
      redisPool = await RedisClientPool.create({
        ...options.redis,
        backend: backend.name,
        log,
      });
      pool = redisPool;
    } else {
      pool = await ClientPool.create({
        threads,
        ...(config.backend !== undefined ? { backend: config.backend } : {}),
      });
    }
    log(
      `clients: ${config.clients} virtual clients on ${pool.description} (${pool.backends[0] ?? backend.name})`,
    );
    if (writeOutputs) {
      await mkdir(runDir, { recursive: true });
      await writeFile(join(runDir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
      await writeFile(join(runDir, 'metrics.jsonl'), '');
    }
    const metricsPath = join(runDir, 'metrics.jsonl');
    let pendingWrite = Promise.resolve();
    const totalRuns = config.seeds.length * config.strategy.length;
    let runsDone = 0;
    // One bar over every round of every run, so its ETA is the whole simulation's.
    runBar = progress?.task({
      name: 'runs',
      total: totalRuns * config.rounds,
      unit: 'rounds',
      info: `${totalRuns} runs of ${config.rounds} rounds`,
    });
    const onRound = (metrics: SimRoundMetrics) => {
      if (writeOutputs) {
        const line = `${JSON.stringify(metrics)}\n`;
        pendingWrite = pendingWrite.then(() => appendFile(metricsPath, line));
      }
      runBar?.update(
        runsDone * config.rounds + metrics.round,
        `run ${runsDone + 1}/${totalRuns}: ${metrics.strategy} seed ${metrics.seed}, accuracy ${pct(metrics.studentAccuracy)}`,
      );
      log(
        `${metrics.strategy} seed ${metrics.seed} round ${metrics.round}/${config.rounds}: ` +
          `accuracy ${pct(metrics.studentAccuracy)}, loss ${metrics.studentLoss?.toFixed(4) ?? '—'}, ` +
          `${(metrics.durationMs / 1000).toFixed(1)} s`,
        progress ? 'debug' : 'info',
      );
      options.onRound?.(metrics);
    };
    const ctx: RunContext = {
      config,
      split,
      teacher,
      teacherAccuracy,
      studentSpec,
      clientSpecs,
      pool,
      coordinatorDir: writeOutputs ? join(runDir, 'coordinator') : join(config.cacheDir, 'scratch'),
      log,
      onRound,
      ...(options.onCoordinatorEvent ? { onCoordinatorEvent: options.onCoordinatorEvent } : {}),
      ...(options.onMessage ? { onMessage: options.onMessage } : {}),
    };
    const runs: SimRunResult[] = [];
    const partitions: SimulationResult['partitions'] = [];
    for (const seed of config.seeds) {
      const { shards, skew } = partitionClients(config, split.clientPool, seed, split.numClasses);
      partitions.push({ seed, sizes: shards.map((s) => s.count), meanSkew: skew.mean });
      log(
        `seed ${seed}: ${config.partition.kind} partition, client sizes ${shards.map((s) => s.count).join('/')}, mean label skew (TV) ${skew.mean.toFixed(3)}`,
      );
      // Clients report their own models' accuracy on the test split: for strategies without a
      // global model (local, fedmd, dsfl) that is the accuracy the coordinator records.
      await pool.loadShards(shards, split.test);
      for (const strategy of config.strategy) {
        runBar?.update(
          runsDone * config.rounds,
          `run ${runsDone + 1}/${totalRuns}: ${strategy} seed ${seed}`,
        );
        let result: SimRunResult;
        if (strategy === 'central') {
          const started = Date.now();
          const central = await runCentral({
            config,
            seed,
            studentSpec,
            teacher,
            shards,
            proxy: split.proxy,
            test: split.test,
            teacherAccuracy,
            onRound,
          });
          result = {
            strategy,
            seed,
            status: 'completed',
            rounds: central.rounds,
            studentParams: central.studentParams,
            artifactBytes: 0,
            wallMs: Date.now() - started,
          };
        } else {
          result = await runFederated(ctx, strategy, seed);
        }
        runs.push(result);
        runsDone += 1;
        const last = result.rounds.at(-1);
        log(
          `${strategy} seed ${seed}: ${result.status}${result.error ? ` (${result.error})` : ''}, ` +
            `final accuracy ${pct(last?.studentAccuracy ?? null)}, ${(result.wallMs / 1000).toFixed(1)} s`,
        );
      }
    }
    runBar?.update(totalRuns * config.rounds, `${totalRuns} runs done`);
    runBar?.finish();
    await pendingWrite;

    const summaries = summarizeStrategies(runs, teacherAccuracy);
    const result: SimulationResult = {
      runDir,
      config,
      backend: pool.backends[0] ?? backend.name,
      threads: redisPool ? redisPool.stats.workers : threads,
      clientsOn: pool.description,
      ...(redisPool ? { redis: redisPool.stats } : {}),
      teacher: {
        description: teacher.description,
        parameters: teacher.numParams,
        accuracy: teacherAccuracy,
        ...teacherTraining,
      },
      data: {
        teacher: split.teacherTrain.count,
        proxy: split.proxy.count,
        clientPool: split.clientPool.count,
        test: split.test.count,
        origin: split.origin,
        inputShape: split.inputShape,
        numClasses: split.numClasses,
        ...(split.classNames ? { classNames: split.classNames } : {}),
      },
      partitions,
      runs,
      summaries,
      files: undefined,
    };
    if (writeOutputs) {
      const files = {
        metrics: metricsPath,
        summary: join(runDir, 'summary.md'),
        plot: join(runDir, 'rounds.svg'),
        result: join(runDir, 'result.json'),
      };
      await writeFile(files.summary, simulationMarkdown(result));
      await writeFile(
        files.plot,
        await renderRoundsChart(
          runs.flatMap((r) => r.rounds),
          {
            title: `${config.name}: ${config.clients} clients, ${describePartition(config)}`,
            teacherAccuracy,
            order: config.strategy,
          },
        ),
      );
      await writeFile(files.result, `${JSON.stringify({ ...result, files }, null, 2)}\n`);
      result.files = files;
    }
    return result;
  } finally {
    runBar?.finish();
    await pool?.close();
    teacher.dispose();
  }
}

/**
 * The simulation's teacher: `teacher.file` loaded as `fedistill serve --teacher` loads one
 * (ONNX or tfjs, the feature layer checked at load), or the default teacher of `teacher.spec`
 * (returned beside it) trained on the teacher split and cached in `cacheDir`.
 */
async function simTeacher(
  config: SimConfig,
  split: SimSplit,
  log: Log,
  progress: Progress | undefined,
): Promise<{
  teacher: Teacher;
  spec?: ModelSpec;
  /** For a default teacher: whether it came from the cache, and its training time. */
  training?: { fromCache: boolean; trainSeconds: number | null };
}> {
  const { file, outputs, provider, inputLayout, runtime } = config.teacher;
  if (file !== undefined) {
    log(`teacher: loading ${file} (the teacher split of ${split.teacherTrain.count} goes unused)`);
    const teacher = await loadTeacherFile(file, {
      outputs,
      onnxProvider: provider,
      onnxInputLayout: inputLayout,
      runtime,
      ...(config.teacherFeatures.layer !== undefined
        ? { featureLayer: config.teacherFeatures.layer }
        : {}),
      log,
    });
    return { teacher };
  }
  const spec = resolveSpec(config.teacher.spec, split.inputShape, split.numClasses);
  // Started at the first step: it follows the "training" line and never shows for a cached teacher.
  let teacherBar: ProgressTask | undefined;
  const teacher = await loadOrTrainDefaultTeacher({
    spec,
    data: split.teacherTrain,
    dataDir: config.cacheDir,
    epochs: config.teacher.epochs,
    batchSize: config.teacher.batchSize,
    learningRate: config.teacher.learningRate,
    seed: config.data.seed,
    runtime,
    log,
    onProgress: (done, total, loss) => {
      teacherBar ??= progress?.task({ name: 'teacher', total, unit: 'steps' });
      teacherBar?.setTotal(total);
      teacherBar?.update(done, `loss ${loss.toFixed(3)}`);
    },
  }).finally(() => teacherBar?.finish());
  return {
    teacher,
    spec,
    training: { fromCache: teacher.fromCache, trainSeconds: teacher.trainSeconds },
  };
}

export function describePartition(config: SimConfig): string {
  const p = config.partition;
  return p.kind === 'iid'
    ? 'IID'
    : p.kind === 'dirichlet'
      ? `Dirichlet α = ${p.alpha}`
      : `${p.perClient} label shards per client`;
}

/** summary.md: the setting in a few lines, then the per-strategy table. */
export function simulationMarkdown(result: SimulationResult): string {
  const { config } = result;
  const t = config.training;
  const lines = [
    `# Simulation ${config.name}`,
    '',
    `- Data: ${result.data.origin}: teacher ${result.data.teacher}, ` +
      `public proxy ${result.data.proxy}, client pool ${result.data.clientPool}, test ${result.data.test}.`,
    `- Clients: ${config.clients}, ${describePartition(config)}; ${config.participation.fraction * 100}% sampled per round (at least ${config.participation.minClients}); ` +
      `mean label skew (TV) ${result.partitions.map((p) => p.meanSkew.toFixed(3)).join(' / ')}.`,
    `- Teacher: ${result.teacher.description}, ${result.teacher.parameters.toLocaleString('en')} parameters, test accuracy ${pct(result.teacher.accuracy)}.`,
    `- Student: ${typeof config.student === 'string' ? config.student : (config.student.name ?? 'custom spec')}` +
      (config.clientStudents
        ? `; per client: ${config.clientStudents.map((s) => (typeof s === 'string' ? s : (s.name ?? 'spec'))).join(', ')}`
        : '') +
      '.',
    `- Rounds: ${config.rounds}; local training: ${t.epochs} epoch(s), batch ${t.batchSize}, ${t.optimizer} lr ${t.learningRate}, T = ${t.temperature}, α = ${t.alpha}` +
      (t.proximalMu > 0 ? `, FedProx μ = ${t.proximalMu}` : '') +
      `; server optimiser ${config.serverOptimizer.kind}; aggregator ${config.aggregator.kind}.`,
    `- Seeds: ${config.seeds.join(', ')}; backend ${result.backend}, ${result.redis ? result.clientsOn : result.threads === 0 ? 'main thread only' : `${result.threads} worker threads`}.`,
    '',
    strategyTable(result.summaries, config.rounds),
    '',
    'Bytes are per client per round as the coordinator counts them (MessagePack-encoded round message down, update up); ' +
      '"artifacts once" is the proxy inputs plus soft labels each client downloads once.',
    '',
    '![accuracy and loss per round](rounds.svg)',
    '',
  ];
  const failures = result.runs.filter((r) => r.error);
  if (failures.length > 0) {
    lines.push('## Failed runs', '');
    for (const r of failures) lines.push(`- ${r.strategy} seed ${r.seed}: ${r.error}`);
    lines.push('');
  }
  return lines.join('\n');
}
