/**
 * The end-of-run summary a person reads: how good the student is next to the
 * teacher, how much smaller and faster it is (inference timed here, side by
 * side on the same test inputs), and what federating it cost in bytes.
 *
 * The timing runs on the coordinator's event loop, which still serves the
 * dashboard and the HTTP API: it predicts in slices of `SLICE` samples and
 * yields to pending I/O between slices, so a request waits for one slice, not
 * for the whole measurement (seconds with a large teacher on wasm).
 */
import * as tf from '@tensorflow/tfjs';
import type { LabeledData } from '../shared/data/types.js';
import type { ModelSpec } from '../shared/models/index.js';
import type { CoordinatorConfig } from './config.js';
import { recordableConfig } from './config.js';
import type { RunResult } from './coordinator.js';
import type { ClientRecord } from './store.js';
import type { Teacher } from './teachers/index.js';
import type { StudentExport } from './studentExports.js';
import { measureStudentExports } from './studentExports.js';
import type { WeightPrecision } from '../node/modelFiles.js';

export interface RunSummary {
  runId: string;
  status: RunResult['status'];
  /** How knowledge moved (fedkd, fedavg, feddf, fedmd, dsfl, local). */
  strategy: CoordinatorConfig['strategy'];
  backend: string;
  /**
   * Everything that produced the run and can be written down: the coordinator config
   * (secrets replaced by whether they were set), the student spec, where the data came
   * from and which teacher was used.
   */
  configuration: {
    coordinator: Record<string, unknown>;
    studentSpec: ModelSpec;
    data?: unknown;
    teacher?: unknown;
  };
  roundsAggregated: number;
  teacher: {
    description: string;
    parameters: number;
    testAccuracy: number;
    inferenceMsPerSample: number;
  };
  student: {
    parameters: number;
    testAccuracy: number | null;
    agreementWithTeacher: number | null;
    inferenceMsPerSample: number;
    /** The exported student's model.json; null when the strategy keeps no global model. */
    checkpoint: string | null;
    /** The exported student at each precision: weight-file size, test accuracy, agreement with float32. */
    exports: StudentExport[];
  };
  /** teacher parameters / student parameters */
  timesSmaller: number;
  /** teacher inference time / student inference time, measured on the same test inputs */
  timesFaster: number;
  /** Samples per predict call in that measurement (the ratio depends on it). */
  inferenceBatchSize: number;
  /** student accuracy / teacher accuracy */
  shareOfTeacherAccuracy: number | null;
  accuracyByRound: (number | null)[];
  bytes: {
    artifactsPerClient: number;
    downPerClientPerRound: number;
    upPerClientPerRound: number;
    meanTotalPerClient: number;
  };
  clients: number;
}

/** Samples predicted between two yields to the event loop. */
const SLICE = 100;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Median over `repeats` passes (after one warm-up pass: first calls compile kernels and
 * allocate) of the time `predict` takes over all `count` samples, summed over slices; the
 * yields between slices are not counted.
 */
async function medianPassMs(
  predict: (start: number, rows: number) => unknown,
  count: number,
  repeats: number,
): Promise<number> {
  const pass = async () => {
    let total = 0;
    for (let start = 0; start < count; start += SLICE) {
      const rows = Math.min(SLICE, count - start);
      const began = performance.now();
      await predict(start, rows);
      total += performance.now() - began;
      await yieldToEventLoop();
    }
    return total;
  };
  await pass();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) times.push(await pass());
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export async function summarizeRun(options: {
  result: RunResult;
  teacher: Teacher;
  teacherAccuracy: number;
  student: tf.LayersModel;
  test: LabeledData;
  clients: ClientRecord[];
  artifactBytes: number;
  checkpoint: string | null;
  backend: string;
  config: CoordinatorConfig;
  studentSpec: ModelSpec;
  /** Where the data came from, as the caller describes it. */
  data?: unknown;
  /** Which teacher, as the caller describes it (file, or default spec and epochs). */
  teacherSource?: unknown;
  repeats?: number;
  /** Folders of the exported student by precision (DirectoryCheckpoints.exportDir). Defaults to none measured. */
  exportDirs?: ReadonlyMap<WeightPrecision, string>;
}): Promise<RunSummary> {
  const { result, teacher, student, test } = options;
  const repeats = options.repeats ?? 5;
  const count = Math.min(test.count, 1000);
  const features = test.x.length / test.count;
  const x = test.x.subarray(0, count * features);
  const inputShape = student.inputs[0]!.shape.slice(1).map(Number);
  const rowsOf = (start: number, rows: number) =>
    x.subarray(start * features, (start + rows) * features);
  const teacherMs = await medianPassMs(
    (start, rows) => teacher.logits(rowsOf(start, rows), rows),
    count,
    repeats,
  );
  const studentMs = await medianPassMs(
    (start, rows) => {
      const out = tf.tidy(
        () => student.predict(tf.tensor(rowsOf(start, rows), [rows, ...inputShape])) as tf.Tensor,
      );
      out.dataSync();
      out.dispose();
    },
    count,
    repeats,
  );
  const aggregated = result.rounds.filter((r) => r.status === 'aggregated');
  const last = aggregated.at(-1);
  const perRound = (pick: (r: (typeof aggregated)[number]) => number) =>
    aggregated.length > 0 ? aggregated.reduce((sum, r) => sum + pick(r), 0) / aggregated.length : 0;
  const clientTotals = options.clients.map((c) => c.bytesDown + c.bytesUp + options.artifactBytes);
  return {
    runId: result.runId,
    status: result.status,
    strategy: options.config.strategy,
    backend: options.backend,
    configuration: {
      coordinator: recordableConfig(options.config),
      studentSpec: options.studentSpec,
      ...(options.data !== undefined ? { data: options.data } : {}),
      ...(options.teacherSource !== undefined ? { teacher: options.teacherSource } : {}),
    },
    roundsAggregated: aggregated.length,
    teacher: {
      description: teacher.description,
      parameters: teacher.numParams,
      testAccuracy: options.teacherAccuracy,
      inferenceMsPerSample: teacherMs / count,
    },
    student: {
      parameters: result.studentParams,
      testAccuracy: last?.studentAccuracy ?? null,
      agreementWithTeacher: last?.agreement ?? null,
      inferenceMsPerSample: studentMs / count,
      checkpoint: options.checkpoint,
      exports: options.exportDirs ? await measureStudentExports(options.exportDirs, test) : [],
    },
    timesSmaller: teacher.numParams / result.studentParams,
    timesFaster: teacherMs / studentMs,
    inferenceBatchSize: Math.min(SLICE, count),
    shareOfTeacherAccuracy:
      last?.studentAccuracy !== null && last?.studentAccuracy !== undefined
        ? last.studentAccuracy / options.teacherAccuracy
        : null,
    accuracyByRound: result.rounds.map((r) => r.studentAccuracy),
    bytes: {
      artifactsPerClient: options.artifactBytes,
      downPerClientPerRound: perRound((r) => r.bytesDownPerClient),
      upPerClientPerRound: perRound((r) => r.bytesUpPerClient),
      meanTotalPerClient:
        clientTotals.length > 0 ? clientTotals.reduce((a, b) => a + b, 0) / clientTotals.length : 0,
    },
    clients: options.clients.length,
  };
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

function pct(value: number | null): string {
  return value === null ? 'n/a' : `${(value * 100).toFixed(2)}%`;
}

/** The summary as a few aligned lines for a terminal. */
export function formatSummary(summary: RunSummary): string {
  return [
    `run ${summary.runId}: ${summary.strategy}, ${summary.status}, ${summary.roundsAggregated} rounds, ${summary.clients} clients, backend ${summary.backend}`,
    `teacher  ${summary.teacher.parameters.toLocaleString('en')} parameters, test accuracy ${pct(summary.teacher.testAccuracy)}`,
    `student  ${summary.student.parameters.toLocaleString('en')} parameters, test accuracy ${pct(summary.student.testAccuracy)}, agrees with teacher on ${pct(summary.student.agreementWithTeacher)}`,
    `student is ${summary.timesSmaller.toFixed(1)}× smaller and ${summary.timesFaster.toFixed(1)}× faster at inference (measured in batches of ${summary.inferenceBatchSize}), keeping ${pct(summary.shareOfTeacherAccuracy)} of the teacher's accuracy`,
    `traffic per client: artifacts ${mb(summary.bytes.artifactsPerClient)} once, ${mb(summary.bytes.downPerClientPerRound)} down + ${mb(summary.bytes.upPerClientPerRound)} up per round, ${mb(summary.bytes.meanTotalPerClient)} in all`,
    summary.student.checkpoint !== null
      ? `student checkpoint: ${summary.student.checkpoint}`
      : `student checkpoint: none (the strategy keeps no global model; each client's student stays on its device)`,
    ...(summary.student.exports.length > 0
      ? [
          `student exports: ${summary.student.exports
            .map(
              (e) =>
                `${e.precision} ${(e.weightBytes / 1e3).toFixed(1)} kB, test accuracy ${pct(e.testAccuracy)}, agrees with float32 on ${pct(e.agreementWithFloat32)}`,
            )
            .join('; ')}`,
        ]
      : []),
  ].join('\n');
}
