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
import { selectNodeBackend } from '../node/backend.js';
import { loadDataDir } from '../node/data/index.js';
import { demoSplit } from '../node/demo/demoSplit.js';
import type { CoordinatorConfigInput } from '../server/config.js';
import { parseCoordinatorConfig } from '../server/config.js';
import type { CoordinatorEvent } from '../server/coordinator.js';
import { defaultTeacherSpec, loadOrTrainDefaultTeacher } from '../server/defaultTeacher.js';
import type { RunningCoordinator } from '../server/startCoordinator.js';
import { startCoordinator } from '../server/startCoordinator.js';
import type { OnnxProvider, Teacher, TeacherOutputs } from '../server/teachers/index.js';
import { checkFeatureLayer, loadTeacherFile } from '../server/teachers/index.js';
import type { Log } from '../node/logger.js';
import type { Progress, ProgressTask } from '../node/progress.js';
import { resolveModelSpec } from './studentSpec.js';

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
  proxyData?: string;
  testData?: string;
  teacherData?: string;
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
}

function featureShapeOf(data: LabeledData): number[] {
  return [data.x.length / Math.max(1, data.count)];
}

function classCount(...sets: LabeledData[]): number {
  let max = 0;
  for (const set of sets) for (let i = 0; i < set.count; i++) max = Math.max(max, set.y[i]!);
  return max + 1;
}

export async function prepareCoordinator(setup: CoordinatorSetup): Promise<PreparedCoordinator> {
  const log = setup.log;
  const config = parseCoordinatorConfig(setup.config);
  const backend = await selectNodeBackend({
    ...(setup.backend ? { force: setup.backend } : {}),
    log,
  });

  let proxy: LabeledData;
  let test: LabeledData;
  let teacherTrain: LabeledData | undefined;
  let demoShards: LabeledData[] | undefined;
  if (setup.proxyData || setup.testData) {
    if (!setup.proxyData || !setup.testData)
      throw new Error('--proxy-data and --test-data go together');
    proxy = loadDataDir(setup.proxyData);
    test = loadDataDir(setup.testData);
    teacherTrain = setup.teacherData ? loadDataDir(setup.teacherData) : undefined;
    log(
      `data: proxy ${proxy.count} from ${setup.proxyData}, test ${test.count} from ${setup.testData}`,
    );
  } else {
    const split = demoSplit({
      ...(setup.dataSeed !== undefined ? { seed: setup.dataSeed } : {}),
      ...(setup.demoClients !== undefined ? { clients: setup.demoClients } : {}),
      ...(setup.demoAlpha !== undefined ? { alpha: setup.demoAlpha } : {}),
    });
    ({ proxy, test, teacherTrain } = split);
    demoShards = split.shards;
    log(
      `data: embedded MNIST (real digits): teacher-train ${split.teacherTrain.count}, proxy ${proxy.count}, ` +
        `test ${test.count}, client shards ${split.shards.map((s) => s.count).join('/')}`,
    );
  }
  const inputShape = featureShapeOf(proxy);
  const numClasses = classCount(test, ...(teacherTrain ? [teacherTrain] : []));

  let teacher: Teacher;
  if (setup.teacher) {
    teacher = await loadTeacherFile(setup.teacher, {
      outputs: setup.teacherOutputs ?? 'auto',
      onnxProvider: setup.teacherProvider ?? 'auto',
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
  const running = await startCoordinator({
    config: config as CoordinatorConfigInput,
    teacher,
    studentSpec,
    data: { proxy: { x: proxy.x, count: proxy.count, featureShape: inputShape }, test },
    log,
    ...(setup.onEvent ? { onEvent: setup.onEvent } : {}),
    ...(demoShards ? { demoShards } : {}),
  });
  log(
    `student: ${studentSpec.name ?? 'custom'}, ${running.coordinator.studentParams} parameters; data dir ${join(config.dataDir)}`,
  );
  log(`dashboard: ${running.url}/  browser client: ${running.url}/client`);
  return { running, teacher, studentSpec, test, backend: backend.name };
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
