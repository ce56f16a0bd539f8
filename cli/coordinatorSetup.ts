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
import type { LabeledData } from '../shared/data/types.js';
import type { ModelSpec } from '../shared/models/index.js';
import { mlpSpec } from '../shared/models/index.js';
import { selectNodeBackend } from '../node/backend.js';
import { loadDataDir } from '../node/data/index.js';
import { demoSplit } from '../node/demo/demoSplit.js';
import type { CoordinatorConfigInput } from '../server/config.js';
import { parseCoordinatorConfig } from '../server/config.js';
import type { CoordinatorEvent } from '../server/coordinator.js';
import { loadOrTrainDefaultTeacher } from '../server/defaultTeacher.js';
import type { RunningCoordinator } from '../server/startCoordinator.js';
import { startCoordinator } from '../server/startCoordinator.js';
import type { Teacher, TeacherOutputs } from '../server/teacher.js';
import { loadTeacherFromFile } from '../server/teacher.js';
import type { Log } from '../node/logger.js';
import type { Progress, ProgressTask } from '../node/progress.js';
import { resolveModelSpec } from './studentSpec.js';

export interface CoordinatorSetup {
  /** Coordinator settings from flags and files; validated by coordinatorConfigSchema. */
  config: CoordinatorConfigInput | Record<string, unknown>;
  /** tfjs backend to force; default picks the best that loads. */
  backend?: string;
  /** Teacher model.json; default trains (or reuses) an MLP teacher on the teacher split. */
  teacher?: string;
  teacherOutputs?: TeacherOutputs;
  /** Default teacher architecture. Defaults to mlp:1200,1200 (Hinton et al. 2015). */
  teacherSpec?: string;
  teacherEpochs?: number;
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
    teacher = await loadTeacherFromFile(setup.teacher, setup.teacherOutputs ?? 'auto');
  } else {
    if (!teacherTrain)
      throw new Error('no --teacher given: the default teacher needs --teacher-data to train on');
    const teacherSpec: ModelSpec =
      setup.teacherSpec !== undefined
        ? resolveModelSpec(setup.teacherSpec, inputShape, numClasses)
        : mlpSpec(
            inputShape.reduce((a, b) => a * b, 1),
            [1200, 1200],
            numClasses,
          );
    // Started at the first step, so it follows the "training" log line and never shows for a cached teacher.
    let bar: ProgressTask | undefined;
    try {
      teacher = await loadOrTrainDefaultTeacher({
        spec: teacherSpec,
        data: teacherTrain,
        dataDir: config.dataDir,
        seed: config.seed,
        ...(setup.teacherEpochs !== undefined ? { epochs: setup.teacherEpochs } : {}),
        log,
        onProgress: (done, total, loss) => {
          bar ??= setup.progress?.task({ name: 'teacher', total, unit: 'steps' });
          bar?.setTotal(total);
          bar?.update(done, `loss ${loss.toFixed(3)}`);
        },
      });
    } finally {
      bar?.finish();
    }
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
  const summary = summarizeRun({
    result,
    teacher: prepared.teacher,
    teacherAccuracy: running.teacherAccuracy,
    student: running.coordinator.studentModel,
    test: prepared.test,
    clients: running.store.clients(result.runId),
    artifactBytes: running.coordinator.artifactBytes,
    checkpoint: join(running.checkpoints.finalDir, 'model.json'),
    backend: prepared.backend,
  });
  await writeFile(summaryPath, JSON.stringify(summary, null, 2));
  beforeResults?.();
  process.stdout.write(`\n${formatSummary(summary)}\nsummary written to ${summaryPath}\n`);
  return { result, summary };
}
