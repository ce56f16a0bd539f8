/**
 * The end-of-run summary a person reads: how good the student is next to the
 * teacher, how much smaller and faster it is (inference timed here, side by
 * side on the same test inputs), and what federating it cost in bytes.
 */
import * as tf from '@tensorflow/tfjs';
import type { LabeledData } from '../shared/data/types.js';
import type { ModelSpec } from '../shared/models/index.js';
import type { CoordinatorConfig } from './config.js';
import { recordableConfig } from './config.js';
import type { RunResult } from './coordinator.js';
import type { ClientRecord } from './store.js';
import type { Teacher } from './teacher.js';

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
  };
  /** teacher parameters / student parameters */
  timesSmaller: number;
  /** teacher inference time / student inference time, measured on the same test inputs */
  timesFaster: number;
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

function medianMs(run: () => void, repeats: number): number {
  run(); // warm-up: first calls compile kernels and allocate
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export function summarizeRun(options: {
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
}): RunSummary {
  const { result, teacher, student, test } = options;
  const repeats = options.repeats ?? 5;
  const count = Math.min(test.count, 1000);
  const x = test.x.subarray(0, count * (test.x.length / test.count));
  const teacherMs = medianMs(() => teacher.predictLogits(x, count), repeats);
  const studentMs = medianMs(() => {
    const out = tf.tidy(
      () =>
        student.predict(
          tf.tensor(x, [count, ...student.inputs[0]!.shape.slice(1).map(Number)]),
        ) as tf.Tensor,
    );
    out.dataSync();
    out.dispose();
  }, repeats);
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
    },
    timesSmaller: teacher.numParams / result.studentParams,
    timesFaster: teacherMs / studentMs,
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
    `student is ${summary.timesSmaller.toFixed(1)}× smaller and ${summary.timesFaster.toFixed(1)}× faster at inference (measured), keeping ${pct(summary.shareOfTeacherAccuracy)} of the teacher's accuracy`,
    `traffic per client: artifacts ${mb(summary.bytes.artifactsPerClient)} once, ${mb(summary.bytes.downPerClientPerRound)} down + ${mb(summary.bytes.upPerClientPerRound)} up per round, ${mb(summary.bytes.meanTotalPerClient)} in all`,
    summary.student.checkpoint !== null
      ? `student checkpoint: ${summary.student.checkpoint}`
      : `student checkpoint: none (the strategy keeps no global model; each client's student stays on its device)`,
  ].join('\n');
}
