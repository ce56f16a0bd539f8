/**
 * Turns `serve` options into a running coordinator: picks the backend, loads
 * the data (the embedded MNIST split unless folders are given), loads or
 * trains the teacher, and starts listening. Shared by `serve` and `demo`.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunResult } from '../server/coordinator.js';
import type { RunSummary } from '../server/summary.js';
import { formatSummary, summarizeRun } from '../server/summary.js';
import { EXPORT_PRECISIONS } from '../server/checkpoints.js';
import type { LabeledData } from '../shared/data/types.js';
import type { ModelSpec } from '../shared/models/index.js';
import { DatasetError } from '../shared/errors.js';
import { selectNodeBackend } from '../node/backend.js';
import type { LoadedData } from '../node/data/index.js';
import {
  checkFitsModel,
  checkSameShape,
  loadDataSource,
  requireLabels,
} from '../node/data/index.js';
import { demoSplit } from '../node/demo/demoSplit.js';
import type { CoordinatorConfig, CoordinatorConfigInput } from '../server/config.js';
import { parseCoordinatorConfig } from '../server/config.js';
import type { CoordinatorEvent } from '../server/coordinator.js';
import { defaultTeacherSpec, loadOrTrainDefaultTeacher } from '../server/defaultTeacher.js';
import type { RunningCoordinator } from '../server/startCoordinator.js';
import { startCoordinator } from '../server/startCoordinator.js';
import type { MasterEdgeOptions } from '../server/edges/masterEdges.js';
import { edgesConflict } from '../server/edges/edgeAggregation.js';
import { probeRedis } from '../node/redis.js';
import type {
  OnnxProvider,
  Teacher,
  TeacherOutputs,
  TeacherRuntime,
} from '../server/teachers/index.js';
import { checkFeatureLayer, loadTeacherFile } from '../server/teachers/index.js';
import type { Log } from '../node/logger.js';
import type { Progress, ProgressTask } from '../node/progress.js';
import { resolveModelSpec } from './studentSpec.js';
import type { DataFlags } from './dataFlags.js';
import { loadProxySource, sourceOptions } from './dataFlags.js';

export interface CoordinatorSetup {
  /** Coordinator settings from flags and files; validated by coordinatorConfigSchema. */
  config: CoordinatorConfigInput | Record<string, unknown>;
  /** tfjs backend to force; default picks the best that loads. */
  backend?: string;
  /** Teacher model.json or .onnx file; default trains (or reuses) an MLP teacher on the teacher split. */
  teacher?: string;
  teacherOutputs?: TeacherOutputs;
  /** ONNX execution provider for an .onnx teacher. Defaults to 'auto' (CUDA if installed, else CPU). */
  teacherProvider?: OnnxProvider;
  /** What runs a tfjs layers teacher (the default one included): auto | onnx | wasm. Defaults to 'auto' (ONNX Runtime when it converts and matches). */
  teacherRuntime?: TeacherRuntime;
  /** Layout of an .onnx teacher's image input. Defaults to 'nchw' (data rows, channels-last, are transposed). */
  teacherInputLayout?: 'nchw' | 'nhwc';
  /** Layer or tensor for feature distillation, checked at start. Defaults to the teacher's penultimate layer. */
  teacherFeatureLayer?: string;
  /** Default teacher architecture: mlp | cnn | mlp:H1,H2 | spec.json. Defaults to mlp (two ReLU layers of 1200, Hinton et al. 2015). */
  teacherSpec?: string;
  /** Default teacher size (mlp width, cnn first-block filters). Defaults to 1200 (mlp) or 32 (cnn). */
  teacherSize?: number;
  teacherEpochs?: number;
  /** Default teacher learning rate. Defaults to 0.001. */
  teacherLearningRate?: number;
  /** Student spec: mlp:H,… / cnn / JSON file. Defaults to mlp:128. */
  student?: string;
  /** Data sources (node/data loadDataSource): a folder, `folder:split`, `fashion-mnist:test`, `mnist`. */
  proxyData?: string;
  testData?: string;
  teacherData?: string;
  /** CSV options for those sources. Defaults to label in column 0, no scaling, flat rows. */
  dataFlags?: DataFlags;
  /** Aggregate over `fedistill edge` processes through Redis (docs/scaling.md). */
  edges?: MasterEdgeOptions;
  /** Seed of the embedded MNIST split. Defaults to 42. */
  dataSeed?: number;
  /** Number of client shards in the embedded split (for `demo:I/N`). Defaults to 4. */
  demoClients?: number;
  demoAlpha?: number;
  log: Log;
  /** Where teacher training shows its progress (the CLI's display). Defaults to nowhere. */
  progress?: Progress;
  /** Called when the run is over, before the summary goes to stdout (clears the bars). */
  beforeResults?: () => void;
  onEvent?: (event: CoordinatorEvent) => void;
}

export interface PreparedCoordinator {
  running: RunningCoordinator;
  teacher: Teacher;
  studentSpec: ModelSpec;
  test: LabeledData;
  backend: string;
  /** What summary.json records about the run's data, teacher and student. */
  record: { data: DataRecord; teacher: Record<string, unknown>; studentSpec: ModelSpec };
  /** The validated coordinator config the run uses. */
  config: CoordinatorConfig;
}

/** Where a run's data came from, as summary.json records it. */
export interface DataRecord {
  source: 'embedded-mnist-split' | 'sources';
  proxy: { origin: string; count: number; labelled: boolean };
  test: { origin: string; count: number };
  teacher?: { origin: string; count: number };
  inputShape: number[];
  numClasses: number;
  /** Class names by label index, when the sources name them (image class folders). */
  classNames?: string[];
  demoShards?: number[];
}

interface CoordinatorData {
  proxy: LoadedData;
  test: LabeledData;
  teacherTrain: LabeledData | undefined;
  demoShards: LabeledData[] | undefined;
  inputShape: readonly number[];
  numClasses: number;
  /** The loaded sets the student must fit, with the flag each came from. */
  checked: { role: string; set: LoadedData }[];
  record: DataRecord;
}

/**
 * The proxy, test and teacher data: the three sources given (`--proxy-data`, `--test-data`,
 * optionally `--teacher-data`), or the embedded MNIST split when none is. Mixed cases are
 * refused, naming what is missing, rather than filled in from MNIST.
 */
function loadCoordinatorData(setup: CoordinatorSetup, log: Log): CoordinatorData {
  const flags = setup.dataFlags ?? {};
  if (setup.proxyData || setup.testData || setup.teacherData) {
    const missing = [
      ...(setup.proxyData ? [] : ['--proxy-data']),
      ...(setup.testData ? [] : ['--test-data']),
    ];
    if (missing.length > 0) {
      const given = [
        ...(setup.proxyData ? [`--proxy-data ${setup.proxyData}`] : []),
        ...(setup.testData ? [`--test-data ${setup.testData}`] : []),
        ...(setup.teacherData ? [`--teacher-data ${setup.teacherData}`] : []),
      ];
      throw new Error(
        `${given.join(' and ')} also needs ${missing.join(' and ')}: a run on your own data names its proxy ` +
          'and test sources (the embedded MNIST split is used only when no data option is given)',
      );
    }
    const testSet = loadDataSource(setup.testData!, sourceOptions(flags));
    const test = requireLabels(testSet, '--test-data');
    const featureSize = testSet.inputShape.reduce((a, b) => a * b, 1);
    const proxy = loadProxySource(setup.proxyData!, flags, featureSize);
    const teacherSet = setup.teacherData
      ? loadDataSource(setup.teacherData, sourceOptions(flags))
      : undefined;
    const checked = [
      { role: '--test-data', set: testSet },
      { role: '--proxy-data', set: proxy },
      ...(teacherSet ? [{ role: '--teacher-data', set: teacherSet }] : []),
    ];
    checkSameShape(checked.map(({ role, set }) => ({ role, data: set })));
    log(
      `data: proxy ${proxy.count} from ${proxy.origin}, test ${test.count} from ${testSet.origin}` +
        (teacherSet ? `, teacher ${teacherSet.count} from ${teacherSet.origin}` : '') +
        `; inputs ${testSet.inputShape.join('×')}`,
    );
    const numClasses = Math.max(testSet.numClasses, teacherSet?.numClasses ?? 0);
    const classNames = testSet.classNames ?? teacherSet?.classNames;
    if (
      testSet.classNames &&
      teacherSet?.classNames &&
      testSet.classNames.join('\n') !== teacherSet.classNames.join('\n')
    ) {
      throw new DatasetError(
        `--test-data ${testSet.origin} and --teacher-data ${teacherSet.origin} name different classes; ` +
          'label indices come from sorted class folder names, so both need the same class folders',
      );
    }
    return {
      proxy,
      test,
      teacherTrain: teacherSet ? requireLabels(teacherSet, '--teacher-data') : undefined,
      demoShards: undefined,
      inputShape: testSet.inputShape,
      numClasses,
      checked,
      record: {
        source: 'sources',
        proxy: { origin: proxy.origin, count: proxy.count, labelled: proxy.y !== undefined },
        test: { origin: testSet.origin, count: test.count },
        ...(teacherSet ? { teacher: { origin: teacherSet.origin, count: teacherSet.count } } : {}),
        inputShape: [...testSet.inputShape],
        numClasses,
        ...(classNames ? { classNames: [...classNames] } : {}),
      },
    };
  }
  const split = demoSplit({
    ...(setup.dataSeed !== undefined ? { seed: setup.dataSeed } : {}),
    ...(setup.demoClients !== undefined ? { clients: setup.demoClients } : {}),
    ...(setup.demoAlpha !== undefined ? { alpha: setup.demoAlpha } : {}),
  });
  log(
    `data: embedded MNIST (real digits): teacher-train ${split.teacherTrain.count}, proxy ${split.proxy.count}, ` +
      `test ${split.test.count}, client shards ${split.shards.map((s) => s.count).join('/')}`,
  );
  const inputShape = [28, 28, 1];
  const asLoaded = (set: LabeledData, what: string): LoadedData => ({
    ...set,
    inputShape,
    numClasses: 10,
    origin: `embedded MNIST ${what}`,
  });
  return {
    proxy: asLoaded(split.proxy, 'proxy split'),
    test: split.test,
    teacherTrain: split.teacherTrain,
    demoShards: split.shards,
    inputShape,
    numClasses: 10,
    checked: [{ role: 'test split', set: asLoaded(split.test, 'test split') }],
    record: {
      source: 'embedded-mnist-split',
      proxy: { origin: 'embedded MNIST proxy split', count: split.proxy.count, labelled: true },
      test: { origin: 'embedded MNIST test split', count: split.test.count },
      teacher: { origin: 'embedded MNIST teacher split', count: split.teacherTrain.count },
      inputShape,
      numClasses: 10,
      demoShards: split.shards.map((s) => s.count),
    },
  };
}

export async function prepareCoordinator(setup: CoordinatorSetup): Promise<PreparedCoordinator> {
  const log = setup.log;
  const config = parseCoordinatorConfig(setup.config);
  // Before the teacher is loaded or trained: a run that cannot go over edges says so at once.
  const edgeConflict = setup.edges ? edgesConflict(config) : undefined;
  if (edgeConflict) throw new Error(edgeConflict);
  if (setup.edges) await probeRedis(setup.edges.redis);
  const backend = await selectNodeBackend({
    ...(setup.backend ? { force: setup.backend } : {}),
    log,
  });

  if (setup.teacher && setup.teacherData) {
    throw new Error(
      `--teacher-data ${setup.teacherData} trains the default teacher, but --teacher ${setup.teacher} loads one: give one of them`,
    );
  }
  const data = loadCoordinatorData(setup, log);
  const { proxy, test, teacherTrain, demoShards, inputShape } = data;
  const numClasses = Math.max(data.numClasses, 2);

  let teacher: Teacher;
  if (setup.teacher) {
    teacher = await loadTeacherFile(setup.teacher, {
      outputs: setup.teacherOutputs ?? 'auto',
      onnxProvider: setup.teacherProvider ?? 'auto',
      runtime: setup.teacherRuntime ?? 'auto',
      onnxInputLayout: setup.teacherInputLayout ?? 'nchw',
      ...(setup.teacherFeatureLayer !== undefined
        ? { featureLayer: setup.teacherFeatureLayer }
        : {}),
      log,
    });
  } else {
    if (!teacherTrain)
      throw new Error('no --teacher given: the default teacher needs --teacher-data to train on');
    const kind = setup.teacherSpec ?? 'mlp';
    const teacherSpec: ModelSpec =
      kind === 'mlp' || kind === 'cnn'
        ? defaultTeacherSpec({
            kind,
            inputShape,
            numClasses,
            ...(setup.teacherSize !== undefined ? { size: setup.teacherSize } : {}),
          })
        : resolveModelSpec(kind, inputShape, numClasses);
    // Started at the first step, so it follows the "training" log line and never shows for a cached teacher.
    let bar: ProgressTask | undefined;
    try {
      teacher = await loadOrTrainDefaultTeacher({
        spec: teacherSpec,
        data: teacherTrain,
        dataDir: config.dataDir,
        seed: config.seed,
        runtime: setup.teacherRuntime ?? 'auto',
        ...(setup.teacherEpochs !== undefined ? { epochs: setup.teacherEpochs } : {}),
        ...(setup.teacherLearningRate !== undefined
          ? { learningRate: setup.teacherLearningRate }
          : {}),
        log,
        // The progress display prints plain lines off a terminal itself; without one, the
        // teacher logs a line per epoch and every few seconds.
        ...(setup.progress ? { progressEverySeconds: 0 } : {}),
        onProgress: (done, total, loss) => {
          bar ??= setup.progress?.task({ name: 'teacher', total, unit: 'steps' });
          bar?.setTotal(total);
          bar?.update(done, `loss ${loss.toFixed(3)}`);
        },
      });
    } finally {
      bar?.finish();
    }
    log(`teacher: ${teacherSpec.name ?? 'custom'} on ${teacher.backendName}`);
    if (setup.teacherFeatureLayer !== undefined)
      checkFeatureLayer(teacher, setup.teacherFeatureLayer);
  }
  const studentSpec = resolveModelSpec(setup.student ?? 'mlp:128', inputShape, numClasses);
  for (const { role, set } of data.checked) {
    checkFitsModel(set, role, {
      name: `the student ${studentSpec.name ?? setup.student ?? ''}`.trim(),
      inputShape: studentSpec.inputShape,
      numClasses: studentSpec.numClasses,
    });
  }
  const running = await startCoordinator({
    config: config as CoordinatorConfigInput,
    teacher,
    studentSpec,
    data: {
      proxy: { x: proxy.x, count: proxy.count, featureShape: [...inputShape] },
      test,
      ...(data.record.classNames ? { classNames: data.record.classNames } : {}),
    },
    log,
    ...(setup.onEvent ? { onEvent: setup.onEvent } : {}),
    ...(demoShards ? { demoShards } : {}),
    ...(setup.edges ? { edges: setup.edges } : {}),
  });
  log(
    `student: ${studentSpec.name ?? 'custom'}, ${running.coordinator.studentParams} parameters; data dir ${join(config.dataDir)}`,
  );
  log(`dashboard: ${running.url}/  browser client: ${running.url}/client`);
  return {
    running,
    teacher,
    studentSpec,
    test,
    backend: backend.name,
    config,
    record: {
      data: data.record,
      teacher: setup.teacher
        ? { file: setup.teacher, outputs: setup.teacherOutputs ?? 'auto' }
        : {
            default: setup.teacherSpec ?? 'mlp:1200,1200',
            ...(setup.teacherEpochs !== undefined ? { epochs: setup.teacherEpochs } : {}),
          },
      studentSpec,
    },
  };
}

/**
 * Runs the prepared coordinator's rounds to the end, then measures and writes
 * the summary (`summaryPath`) and prints it. Shared by `serve` and `demo`.
 */
export async function runAndSummarize(
  prepared: PreparedCoordinator,
  summaryPath: string,
  beforeResults?: () => void,
): Promise<{ result: RunResult; summary: RunSummary }> {
  const { running } = prepared;
  const result = await running.coordinator.run();
  // Measured while the HTTP API keeps answering (summarizeRun yields between slices).
  const summary = await summarizeRun({
    result,
    teacher: prepared.teacher,
    teacherAccuracy: running.teacherAccuracy,
    student: running.coordinator.studentModel,
    test: prepared.test,
    clients: running.store.clients(result.runId),
    artifactBytes: running.coordinator.artifactBytes,
    checkpoint: result.studentExport,
    backend: prepared.backend,
    // Without a global model nothing was exported, so there is nothing to measure.
    ...(result.studentExport !== null
      ? {
          exportDirs: new Map(
            (['float32', ...EXPORT_PRECISIONS] as const).map((p) => [
              p,
              running.checkpoints.exportDir(p),
            ]),
          ),
        }
      : {}),
    config: prepared.config,
    studentSpec: prepared.studentSpec,
    data: prepared.record.data,
    teacherSource: prepared.record.teacher,
  });
  running.publishSummary(summary);
  await writeFile(summaryPath, JSON.stringify(summary, null, 2));
  beforeResults?.();
  process.stdout.write(`\n${formatSummary(summary)}\nsummary written to ${summaryPath}\n`);
  return { result, summary };
}

/**
 * Keeps the coordinator's dashboard and HTTP API up after the run for its
 * `lingerAfterRunMs`, saying so; returns at once when that is 0.
 */
export async function lingerAfterRun(running: RunningCoordinator, log: Log): Promise<void> {
  const ms = running.lingerAfterRunMs;
  if (ms === 0) return;
  log(
    ms === 'forever'
      ? `the run has ended; dashboard still at ${running.url}/ until stopped (Ctrl-C)`
      : `the run has ended; dashboard still at ${running.url}/ for ${Math.round(ms / 1000)} s (Ctrl-C to stop now)`,
  );
  await running.linger();
}
