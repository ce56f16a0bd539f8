/**
 * Everything a run needs before any client connects, independent of the
 * transport: the teacher's accuracy on the test split, the proxy-input and
 * soft-label artifacts (computed once per teacher version, cached by content),
 * the SQLite store and the checkpoint folder. `startCoordinator` puts a
 * socket.io server in front of it; a simulation puts an in-memory hub.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LabeledData, ProxyData } from '../shared/data/types.js';
import type { ModelSpec } from '../shared/models/index.js';
import { getFlatWeights } from '../shared/models/index.js';
import { loadLayersModelFromFile } from '../node/modelFiles.js';
import { createCodec } from '../shared/codec/index.js';
import { decodeSoftLabels, encodeSoftLabels, softmaxRows } from '../shared/softLabels/index.js';
import { argmaxRows, matchRate } from '../shared/predictions/index.js';
import { decodeProxyInputs, encodeProxyInputs } from '../shared/artifacts/index.js';
import type { CoordinatorConfig, CoordinatorConfigInput } from './config.js';
import { parseCoordinatorConfig } from './config.js';
import type { CoordinatorEvent, CoordinatorParts, ResumePoint } from './coordinator.js';
import { Coordinator } from './coordinator.js';
import type { ClientHub } from './clientHub.js';
import { RunStore } from './store.js';
import { DirectoryCheckpoints, roundFolder } from './checkpoints.js';
import { ArtifactStore } from './artifacts.js';
import { prepareTeacherFeatures } from './teacherFeatures.js';
import type { TeacherFeaturesRef } from './teacherFeatures.js';
import { distillationNeeds } from '../shared/losses/index.js';
import type { Teacher } from './teachers/index.js';
import { checkTeacherFitsData } from './teachers/index.js';

export interface CoordinatorData {
  /** Public, unlabelled proxy inputs the teacher labels. */
  proxy: { x: Float32Array; count: number; featureShape: number[] };
  /** Held-out labelled test split for evaluation. */
  test: LabeledData;
  /** Class names by label index, where the sources name them (image class folders). */
  classNames?: readonly string[];
}

export interface PrepareRunOptions {
  config: CoordinatorConfigInput;
  teacher: Teacher;
  studentSpec: ModelSpec;
  data: CoordinatorData;
  log?: (message: string) => void;
}

export interface PreparedRun {
  readonly config: CoordinatorConfig;
  readonly runId: string;
  readonly store: RunStore;
  readonly artifacts: ArtifactStore;
  readonly checkpoints: DirectoryCheckpoints;
  readonly teacherAccuracy: number;
  /** Teacher logits on the test split, row-major `[test.count, numClasses]`. */
  readonly teacherTestLogits: Float32Array;
  readonly teacherTestPredictions: Int32Array;
  /** Proxy inputs exactly as clients decode them (what the soft labels describe). */
  readonly proxyX: Float32Array;
  /** The proxy set with the teacher's soft labels, exactly as clients decode them. */
  readonly proxy: ProxyData;
  readonly options: PrepareRunOptions;
  /** Set when this continues an interrupted run. */
  readonly resume?: ResumePoint;
  readonly proxyInputs: Awaited<ReturnType<ArtifactStore['put']>>;
  readonly softLabels: Awaited<ReturnType<ArtifactStore['put']>> & { temperature: number };
  /** The teacher's features on the proxy set, when a distillation term needs them. */
  readonly teacherFeatures?: TeacherFeaturesRef;
}

export async function prepareRun(options: PrepareRunOptions): Promise<PreparedRun> {
  const config = parseCoordinatorConfig(options.config);
  const log = options.log ?? (() => undefined);
  const { teacher, studentSpec, data } = options;
  const numClasses = studentSpec.numClasses;
  const codec = createCodec();

  // Before any inference: a teacher for other data fails here, naming its file.
  checkTeacherFitsData(teacher, {
    featureSize: data.proxy.featureShape.reduce((a, b) => a * b, 1),
    numClasses,
    source: `this run's proxy data and student spec (${studentSpec.name ?? 'custom'})`,
  });
  const teacherTestLogits = await teacher.logits(data.test.x, data.test.count);
  if (teacherTestLogits.length !== data.test.count * numClasses) {
    throw new Error(
      `teacher emits ${teacherTestLogits.length / data.test.count} classes, the student spec has ${numClasses}`,
    );
  }
  const teacherTestPredictions = argmaxRows(teacherTestLogits, numClasses);
  const teacherAccuracy = matchRate(teacherTestPredictions, data.test.y);
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
    const probs = softmaxRows(
      await teacher.logits(proxyX, data.proxy.count),
      numClasses,
      temperature,
    );
    softBytes = codec.encode(
      encodeSoftLabels(probs, {
        numClasses,
        precision: config.softLabelPrecision,
        ...(config.softLabelTopK > 0 ? { topK: config.softLabelTopK } : {}),
      }),
    );
    await artifacts.setCached(softKey, softBytes);
    log(
      `soft labels: ${data.proxy.count} proxy samples at T=${temperature} in ${Date.now() - started} ms on ${teacher.backendName}, ${softBytes.byteLength} bytes`,
    );
  }
  const softLabels = { ...(await artifacts.put(softBytes)), temperature };
  const proxy: ProxyData = {
    x: proxyX,
    softLabels: decodeSoftLabels(codec.decode(softBytes)),
    count: data.proxy.count,
  };
  const terms = config.training.distillation ?? [];
  const teacherFeatures = distillationNeeds(terms).has('teacherFeatures')
    ? await prepareTeacherFeatures({
        teacher,
        proxyX,
        proxyCount: data.proxy.count,
        proxyHash: proxyInputs.hash,
        layer: config.teacherFeatures.layer,
        precision: config.teacherFeatures.precision,
        studentSpec,
        terms,
        artifacts,
        codec,
        log,
      })
    : undefined;
  const store = new RunStore(join(config.dataDir, 'fedistill.sqlite'));
  const resumed = config.resume
    ? await findResumePoint(store, options, config.dataDir, log)
    : undefined;
  const runId = resumed?.runId ?? randomUUID();
  return {
    config,
    runId,
    store,
    artifacts,
    checkpoints: new DirectoryCheckpoints(join(config.dataDir, 'runs', runId)),
    ...(resumed ? { resume: resumed.point } : {}),
    teacherAccuracy,
    teacherTestLogits,
    teacherTestPredictions,
    proxyX,
    proxy,
    options,
    proxyInputs,
    softLabels,
    ...(teacherFeatures ? { teacherFeatures } : {}),
  };
}

/**
 * The data directory's last run, when it did not complete and used the same
 * teacher and student: SQLite is the record of which rounds completed, and the
 * student restarts from the checkpoint of the last aggregated one. (Server
 * optimiser state and a logit-exchange consensus start afresh.)
 */
async function findResumePoint(
  store: RunStore,
  options: PrepareRunOptions,
  dataDir: string,
  log: (message: string) => void,
): Promise<{ runId: string; point: ResumePoint } | undefined> {
  const previous = store.latestRun();
  const previousSpec = (previous?.config as { studentSpec?: unknown } | undefined)?.studentSpec;
  if (
    !previous ||
    previous.status === 'completed' ||
    previous.teacherHash !== options.teacher.hash ||
    JSON.stringify(previousSpec) !== JSON.stringify(options.studentSpec)
  ) {
    log('resume: no interrupted run with this teacher and student; starting a new run');
    return undefined;
  }
  const rounds = store.rounds(previous.id);
  const lastAggregated = rounds.filter((r) => r.status === 'aggregated').at(-1);
  const checkpoint = lastAggregated
    ? join(
        dataDir,
        'runs',
        previous.id,
        'checkpoints',
        roundFolder(lastAggregated.round),
        'model.json',
      )
    : undefined;
  let weights: Float32Array | undefined;
  if (checkpoint && existsSync(checkpoint)) {
    const model = await loadLayersModelFromFile(checkpoint);
    weights = getFlatWeights(model);
    model.dispose();
  } else if (checkpoint) {
    log(
      `resume: no checkpoint of round ${lastAggregated!.round} (a strategy without a global model?); student restarts fresh`,
    );
  }
  store.reopenRun(previous.id);
  log(
    `resume: run ${previous.id} after round ${rounds.at(-1)?.round ?? 0} (${rounds.length} rounds recorded)`,
  );
  return { runId: previous.id, point: { rounds, ...(weights ? { weights } : {}) } };
}

/** The coordinator for a prepared run, talking to clients through `hub`. */
export function createCoordinator(
  run: PreparedRun,
  hub: ClientHub,
  onEvent?: (event: CoordinatorEvent) => void,
  wrapStrategy?: CoordinatorParts['wrapStrategy'],
): Coordinator {
  return new Coordinator({
    runId: run.runId,
    config: run.config,
    hub,
    store: run.store,
    checkpoints: run.checkpoints,
    studentSpec: run.options.studentSpec,
    test: run.options.data.test,
    ...(run.options.data.classNames ? { classNames: run.options.data.classNames } : {}),
    teacherTestPredictions: run.teacherTestPredictions,
    teacherTestAccuracy: run.teacherAccuracy,
    teacherHash: run.options.teacher.hash,
    proxyInputs: run.proxyInputs,
    softLabels: run.softLabels,
    ...(run.teacherFeatures ? { teacherFeatures: run.teacherFeatures } : {}),
    proxy: run.proxy,
    ...(run.resume ? { resume: run.resume } : {}),
    ...(onEvent ? { onEvent } : {}),
    ...(wrapStrategy ? { wrapStrategy } : {}),
  });
}
