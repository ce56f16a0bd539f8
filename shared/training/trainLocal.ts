/**
 * One client's local training for a round: minibatch steps on its private
 * labelled data, each combined with a batch of the public proxy set carrying
 * the teacher's soft labels. Uses the fast forward of shared/models so it runs
 * at full speed (and at all, for CNNs) on the wasm backend.
 */
import * as tf from '@tensorflow/tfjs';
import { DatasetError, DistillationInputError, ModelSpecError } from '../errors.js';
import { createRng } from '../data/index.js';
import type { LabeledData, ProxyData, Rng } from '../data/index.js';
import { DEFAULT_DISTILLATION, composeDistillation, composedLoss } from '../losses/index.js';
import type {
  ComposedDistillation,
  DistillationTerm,
  HintRegressor,
  HintTerm,
  ProxyStepInputs,
  SelfTerm,
} from '../losses/index.js';
import {
  createFastForward,
  getFlatWeights,
  setFlatWeights,
  trainableVariables,
} from '../models/index.js';
import type { FastForward, ModelSpec } from '../models/index.js';
import { checkFeatures, gatherRows } from './batches.js';
import { LocalDistillationState } from './localDistillationState.js';

export type OptimizerName = 'sgd' | 'adam' | 'momentum';

export interface TrainConfig {
  /** Passes over the private data. */
  epochs: number;
  /** Private samples per step. */
  batchSize: number;
  learningRate: number;
  /** Temperature T of the soft term; the proxy soft labels must be softened at this T. */
  temperature: number;
  /** Weight α of the hard-label term in [0, 1]; the proxy (soft) term gets 1 − α. */
  alpha: number;
  /** Defaults to 'adam'. 'momentum' uses momentum 0.9. */
  optimizer?: OptimizerName;
  /** Proxy samples per step. Defaults to batchSize. */
  proxyBatchSize?: number;
  /** Extra multiplier on the proxy term, i.e. loss = α·CE + proxyWeight·(1−α)·T²·KL. Defaults to 1. */
  proxyWeight?: number;
  /**
   * FedProx (Li et al. 2020): adds μ/2·‖w − w₀‖² with w₀ the weights at the start of the call,
   * which keeps non-IID clients from drifting far from the global model. Defaults to 0 (off).
   */
  proximalMu?: number;
  /**
   * The terms of the local loss, `{ name, weight, ...options }` each (shared/losses registry).
   * Defaults to `[{ name: 'response', weight: 1 }]`: α·CE + proxyWeight·(1−α)·T²·KL.
   */
  distillation?: readonly DistillationTerm[];
}

/** The teacher's features on the proxy set, row-major [proxy.count, width] (decodeFeatures' output). */
export interface TeacherFeatureRows {
  values: Float32Array;
  width: number;
}

export interface TrainProgress {
  /** 0-based epoch. */
  epoch: number;
  /** Steps done so far, over all epochs (1-based after the first step). */
  step: number;
  /** Total steps of this call. */
  steps: number;
  /** Loss of the step just done. */
  loss: number;
}

export interface LocalTrainOptions {
  /** Trained in place. Must be built from `spec` (or loaded from such a model). */
  model: tf.LayersModel;
  spec: ModelSpec;
  /** Private labelled data; never leaves the device. */
  data: LabeledData;
  /** Public proxy inputs with the teacher's soft labels. Without it: CE on `data` only. */
  proxy?: ProxyData;
  config: TrainConfig;
  /** Seed of batch order and dropout masks. Defaults to 0. */
  seed?: number;
  onProgress?: (progress: TrainProgress) => void;
  /** Yield to the event loop (setTimeout 0) every this many steps so sockets stay alive. Defaults to 4. */
  yieldEvery?: number;
  /** Aborts between steps (rejecting with the signal's reason); the model keeps the steps done. */
  signal?: AbortSignal;
  /** The teacher's features on `proxy`, for the hint and relation terms. */
  teacherFeatures?: TeacherFeatureRows;
  /**
   * The client's distillation state across rounds (hint regressor, self-distillation EMA),
   * trained in place. Without it a hint regressor is learned afresh and dropped at the end of
   * the call, and an EMA teacher is just the call's starting weights.
   */
  state?: LocalDistillationState;
}

/** Mean unweighted value of each configured term (and `ce`, the private CE) over an epoch's steps. */
export type TermValues = Record<string, number>;

export interface LocalTrainResult {
  /** `data.count`: the weight of this update in FedAvg. */
  numSamples: number;
  steps: number;
  /** Mean loss over the last epoch (per private sample). */
  loss: number;
  /** Training accuracy on the private data over the last epoch (dropout on). */
  accuracy: number;
  millis: number;
  /** Each term's mean value (unweighted) in the first and the last epoch; empty with 0 epochs. */
  terms: { firstEpoch: TermValues; lastEpoch: TermValues };
}

function createOptimizer(name: OptimizerName, learningRate: number): tf.Optimizer {
  switch (name) {
    case 'sgd':
      return tf.train.sgd(learningRate);
    case 'momentum':
      return tf.train.momentum(learningRate, 0.9);
    case 'adam':
      return tf.train.adam(learningRate);
    default:
      throw new DistillationInputError(`unknown optimizer '${String(name)}'`);
  }
}

function checkConfig(config: TrainConfig): void {
  const { epochs, batchSize, learningRate, temperature, alpha } = config;
  const problems: string[] = [];
  if (!Number.isInteger(epochs) || epochs < 0) problems.push(`epochs ${epochs}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) problems.push(`batchSize ${batchSize}`);
  if (!(learningRate > 0) || !Number.isFinite(learningRate)) {
    problems.push(`learningRate ${learningRate}`);
  }
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    problems.push(`temperature ${temperature}`);
  }
  if (!(alpha >= 0 && alpha <= 1)) problems.push(`alpha ${alpha}`);
  const pbs = config.proxyBatchSize;
  if (pbs !== undefined && (!Number.isInteger(pbs) || pbs < 1)) {
    problems.push(`proxyBatchSize ${pbs}`);
  }
  const pw = config.proxyWeight;
  if (pw !== undefined && !(pw >= 0 && Number.isFinite(pw))) problems.push(`proxyWeight ${pw}`);
  const mu = config.proximalMu;
  if (mu !== undefined && !(mu >= 0 && Number.isFinite(mu))) problems.push(`proximalMu ${mu}`);
  if (problems.length > 0) {
    throw new DistillationInputError(`invalid training config: ${problems.join(', ')}`);
  }
}

function checkData(data: LabeledData, featureSize: number, numClasses: number): void {
  checkFeatures('data', data.x, data.count, featureSize);
  if (data.count < 1) throw new DatasetError('no private samples to train on');
  if (data.y.length !== data.count) {
    throw new DatasetError(`data has ${data.y.length} labels for ${data.count} samples`);
  }
  for (let i = 0; i < data.count; i++) {
    const label = data.y[i] ?? -1;
    if (label < 0 || label >= numClasses) {
      throw new DatasetError(`label ${label} of sample ${i} is not in [0, ${numClasses})`);
    }
  }
}

function checkProxy(proxy: ProxyData, featureSize: number, numClasses: number): void {
  checkFeatures('proxy', proxy.x, proxy.count, featureSize);
  if (proxy.count < 1) throw new DatasetError('proxy set is empty');
  if (proxy.softLabels.length !== proxy.count * numClasses) {
    throw new DatasetError(
      `proxy soft labels have ${proxy.softLabels.length} values, expected ${proxy.count}×${numClasses}`,
    );
  }
  for (let r = 0; r < proxy.count; r++) {
    let sum = 0;
    for (let c = 0; c < numClasses; c++) {
      const p = proxy.softLabels[r * numClasses + c] ?? Number.NaN;
      if (!(p >= 0 && p <= 1)) {
        throw new DatasetError(`proxy soft label [${r}, ${c}] = ${p} is not a probability`);
      }
      sum += p;
    }
    if (Math.abs(sum - 1) > 1e-3) {
      throw new DatasetError(`proxy soft labels of row ${r} sum to ${sum}, not 1`);
    }
  }
}

/** Endless shuffled passes over `count` indices. */
class IndexStream {
  private order: Int32Array;
  private position = 0;
  constructor(
    count: number,
    private readonly rng: Rng,
  ) {
    this.order = Int32Array.from({ length: count }, (_, i) => i);
    this.rng.shuffle(this.order);
  }
  /** The next `n` indices, reshuffling at the end of a pass. */
  take(n: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      if (this.position === this.order.length) {
        this.rng.shuffle(this.order);
        this.position = 0;
      }
      out[i] = this.order[this.position++] ?? 0;
    }
    return out;
  }
}

/**
 * Lets the rest of the process run between steps. In Node a zero timeout is not enough: with two
 * or more trainings in one process (in-process clients, a coordinator beside them) each one's
 * timer is due again by the time the others' have run, so the timers phase never ends and socket
 * and WebCrypto completions wait until every training is over (measured: an ECDH key generation
 * took 2 s beside three such loops, 25 ms with setImmediate). setImmediate runs after the I/O
 * phase of each loop turn. Browsers have no setImmediate and interleave timers with other tasks.
 */
const yieldToEventLoop: () => Promise<void> =
  typeof setImmediate === 'function'
    ? () => new Promise((resolve) => setImmediate(resolve))
    : () => new Promise((resolve) => setTimeout(resolve, 0));

/** Private-data rows per inference call when computing snapshot logits. */
const SNAPSHOT_CHUNK = 256;

function checkTeacherFeatures(features: TeacherFeatureRows, proxy: ProxyData | undefined): void {
  const { values, width } = features;
  if (proxy === undefined) {
    throw new DistillationInputError(
      'teacherFeatures were given without a proxy set to pair them with',
    );
  }
  if (!Number.isInteger(width) || width < 1) {
    throw new DistillationInputError(`teacherFeatures.width ${width} is not a positive integer`);
  }
  if (!(values instanceof Float32Array) || values.length !== proxy.count * width) {
    throw new DistillationInputError(
      `teacherFeatures.values has ${values?.length} values, expected proxy count ${proxy.count} × width ${width}`,
    );
  }
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new DistillationInputError(`teacherFeatures.values[${i}] = ${values[i]} is not finite`);
    }
  }
}

/**
 * The self term's teacher logits on every private sample: the model as the call starts (the
 * round's global model) or, with an EMA decay, the EMA of those kept in `state`. Computed once:
 * the teacher does not change during the call.
 */
function snapshotLogits(
  model: tf.LayersModel,
  spec: ModelSpec,
  data: LabeledData,
  featureSize: number,
  decay: number,
  state: LocalDistillationState,
): Float32Array {
  const start = getFlatWeights(model);
  const teacher = decay > 0 ? state.emaTeacher(start, decay) : start;
  const forward = createFastForward(model, spec);
  const out = new Float32Array(data.count * spec.numClasses);
  if (teacher !== start) setFlatWeights(model, teacher);
  try {
    for (let begin = 0; begin < data.count; begin += SNAPSHOT_CHUNK) {
      const end = Math.min(begin + SNAPSHOT_CHUNK, data.count);
      const logits = tf.tidy(() => {
        const x = tf.tensor(data.x.subarray(begin * featureSize, end * featureSize), [
          end - begin,
          ...spec.inputShape,
        ]);
        return forward(x, false).logits;
      });
      out.set(logits.dataSync(), begin * spec.numClasses);
      logits.dispose();
    }
  } finally {
    if (teacher !== start) setFlatWeights(model, start);
  }
  return out;
}

/** The student's feature width the hint term reads (penultimate, or its `studentLayer`). */
function studentFeatureWidth(forward: FastForward, spec: ModelSpec, hint: HintTerm): number {
  return tf.tidy(() => {
    const x = tf.zeros([1, ...spec.inputShape]);
    const out = forward(x, false);
    const f = hint.studentLayer === undefined ? out.features : out.layerFeatures;
    return f?.shape[1] ?? 0;
  });
}

/**
 * The hint term's regressor, or none when it compares features directly. Throws naming the
 * field when the widths cannot be mapped.
 */
function hintRegressor(
  hint: HintTerm,
  index: number,
  studentWidth: number,
  teacherWidth: number,
  state: LocalDistillationState,
  seed: number,
): HintRegressor | undefined {
  const mode = hint.regressor ?? 'auto';
  if (mode === 'none' || (mode === 'auto' && studentWidth === teacherWidth)) {
    if (studentWidth !== teacherWidth) {
      throw new DistillationInputError(
        `distillation[${index}].regressor is 'none' but the student's hint features have width ` +
          `${studentWidth} and teacherFeatures.width is ${teacherWidth}`,
      );
    }
    return undefined;
  }
  return state.regressor(studentWidth, teacherWidth, seed);
}

/**
 * Trains `model` in place for `config.epochs` passes over `data`. Each step pairs a private
 * batch with a proxy batch (when a term uses one) and minimises the configured terms:
 *
 *   loss = Σ_terms weight·term   (+ CE(private) with weight 1 when no response term is listed)
 *
 * with the default `[{ name: 'response', weight: 1 }]` giving
 * α·CE(labels, softmax(s_private)) + proxyWeight·(1−α)·T²·KL(p_teacher ‖ softmax(s_proxy/T))
 * (CE alone without a proxy or with α = 1). The hint and relation terms compare the student's
 * features on the proxy batch with `teacherFeatures` of the same rows; the self term compares
 * the student's private-batch logits with those of the model the call started from (or its
 * EMA, kept in `state`). Batch order is seeded. An optimizer is created for the call and
 * disposed at the end, so no optimizer state carries over between rounds. No tensors outlive
 * the call besides the model's own variables and `state`'s regressor.
 *
 * @throws DistillationInputError on a bad config or distillation setting (naming the field),
 *   DatasetError on data whose sizes or labels do not fit the spec.
 */
export async function trainLocal(opts: LocalTrainOptions): Promise<LocalTrainResult> {
  const start = Date.now();
  const { model, spec, data, config } = opts;
  checkConfig(config);
  const featureSize = spec.inputShape.reduce((a, b) => a * b, 1);
  const numClasses = spec.numClasses;
  checkData(data, featureSize, numClasses);
  const terms = config.distillation ?? DEFAULT_DISTILLATION;
  const teacherFeatures = opts.teacherFeatures;
  const composed: ComposedDistillation = composeDistillation(
    terms,
    {
      alpha: config.alpha,
      temperature: config.temperature,
      proxyWeight: config.proxyWeight ?? 1,
    },
    { teacherProbs: opts.proxy !== undefined, teacherFeatures: teacherFeatures !== undefined },
    'distillation',
  );
  const proxy = composed.usesProxy ? opts.proxy : undefined;
  if (proxy !== undefined) checkProxy(proxy, featureSize, numClasses);
  if (teacherFeatures !== undefined) checkTeacherFeatures(teacherFeatures, opts.proxy);
  const needsFeatures = composed.terms.some((t) => t.needs.includes('teacherFeatures'));
  const yieldEvery = Math.max(1, opts.yieldEvery ?? 4);

  const seed = opts.seed ?? 0;
  const hintIndex = terms.findIndex((t) => t.name === 'hint');
  const hint = hintIndex < 0 ? undefined : (terms[hintIndex] as HintTerm);
  const selfTerm = terms.find((t): t is SelfTerm => t.name === 'self');
  const ownState = opts.state === undefined;
  const state = opts.state ?? new LocalDistillationState();
  const rng = createRng(seed);
  let forward: FastForward;
  try {
    forward = createFastForward(model, spec, {
      dropoutSeed: (seed * 7919 + 1) >>> 0,
      featureLayer: hint?.studentLayer,
      featurePooling: hint?.pooling ?? 'flatten',
    });
  } catch (error) {
    if (hint?.studentLayer === undefined || !(error instanceof ModelSpecError)) throw error;
    throw new DistillationInputError(`distillation[${hintIndex}].studentLayer: ${error.message}`);
  }
  let regressor: HintRegressor | undefined;
  let snapshot: Float32Array | undefined;
  try {
    if (hint !== undefined && teacherFeatures !== undefined) {
      const width = studentFeatureWidth(forward, spec, hint);
      regressor = hintRegressor(hint, hintIndex, width, teacherFeatures.width, state, seed + 1);
    }
    if (selfTerm !== undefined) {
      snapshot = snapshotLogits(model, spec, data, featureSize, selfTerm.ema ?? 0, state);
    }
    return await trainSteps();
  } finally {
    if (ownState) state.dispose();
  }

  async function trainSteps(): Promise<LocalTrainResult> {
    const vars = trainableVariables(model);
    const trained = regressor === undefined ? vars : [...vars, regressor.kernel, regressor.bias];
    const batchSize = Math.min(config.batchSize, data.count);
    const proxyBatchSize = config.proxyBatchSize ?? config.batchSize;
    const stepsPerEpoch = Math.ceil(data.count / batchSize);
    const steps = stepsPerEpoch * config.epochs;
    const privateOrder = Int32Array.from({ length: data.count }, (_, i) => i);
    const proxyStream = proxy === undefined ? undefined : new IndexStream(proxy.count, rng);
    const featureWidth = teacherFeatures?.width ?? 0;
    // Reused host buffers for the batches (one full-size batch each).
    const xBuf = new Float32Array(batchSize * featureSize);
    const yBuf = new Int32Array(batchSize);
    const sBuf = new Float32Array(snapshot === undefined ? 0 : batchSize * numClasses);
    const pxBuf = new Float32Array(proxyBatchSize * featureSize);
    const ptBuf = new Float32Array(proxyBatchSize * numClasses);
    const pfBuf = new Float32Array(needsFeatures ? proxyBatchSize * featureWidth : 0);

    const optimizer = createOptimizer(config.optimizer ?? 'adam', config.learningRate);
    const mu = config.proximalMu ?? 0;
    const anchors = mu > 0 ? vars.map((v) => tf.keep(v.clone())) : [];
    const names = composed.valueNames;
    const termSums = new Float64Array(names.length);
    let firstEpoch: TermValues = {};
    let lastEpoch: TermValues = {};
    let step = 0;
    let epochLoss = 0;
    let epochCorrect = 0;
    try {
      for (let epoch = 0; epoch < config.epochs; epoch++) {
        rng.shuffle(privateOrder);
        epochLoss = 0;
        epochCorrect = 0;
        termSums.fill(0);
        for (let s = 0; s < stepsPerEpoch; s++) {
          if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('training aborted');
          const begin = s * batchSize;
          const rows = privateOrder.subarray(begin, Math.min(begin + batchSize, data.count));
          const b = rows.length;
          gatherRows(data.x, featureSize, rows, xBuf);
          for (let i = 0; i < b; i++) yBuf[i] = data.y[rows[i] ?? 0] ?? 0;
          if (snapshot !== undefined) gatherRows(snapshot, numClasses, rows, sBuf);
          const proxyRows = proxyStream?.take(proxyBatchSize);

          const [lossT, correctT, valuesT] = tf.tidy(() => {
            const x = tf.tensor(xBuf.subarray(0, b * featureSize), [b, ...spec.inputShape]);
            const labels = tf.tensor1d(yBuf.subarray(0, b), 'int32');
            const snapshotLogitsT =
              snapshot === undefined
                ? undefined
                : tf.tensor2d(sBuf.subarray(0, b * numClasses), [b, numClasses]);
            let px: tf.Tensor | undefined;
            let pt: tf.Tensor2D | undefined;
            let pf: tf.Tensor2D | undefined;
            if (proxy !== undefined && proxyRows !== undefined) {
              gatherRows(proxy.x, featureSize, proxyRows, pxBuf);
              gatherRows(proxy.softLabels, numClasses, proxyRows, ptBuf);
              px = tf.tensor(pxBuf, [proxyBatchSize, ...spec.inputShape]);
              pt = tf.tensor2d(ptBuf, [proxyBatchSize, numClasses]);
              if (needsFeatures && teacherFeatures !== undefined) {
                gatherRows(teacherFeatures.values, featureWidth, proxyRows, pfBuf);
                pf = tf.tensor2d(pfBuf, [proxyBatchSize, featureWidth]);
              }
            }
            let correct: tf.Scalar | undefined;
            let values: tf.Tensor1D | undefined;
            const cost = optimizer.minimize(
              () => {
                const logits = forward(x, true).logits;
                correct = tf.keep(
                  tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32')),
                ) as tf.Scalar;
                let proxyInputs: ProxyStepInputs | undefined;
                if (px !== undefined && pt !== undefined) {
                  const out = forward(px, true);
                  proxyInputs = {
                    studentLogits: out.logits,
                    studentFeatures: out.features,
                    teacherProbs: pt,
                  };
                  if (out.layerFeatures !== undefined) {
                    proxyInputs.studentLayerFeatures = out.layerFeatures;
                  }
                  if (pf !== undefined) proxyInputs.teacherFeatures = pf;
                }
                const composedStep = composedLoss(composed, {
                  temperature: config.temperature,
                  studentLogits: logits,
                  labels,
                  ...(proxyInputs === undefined ? {} : { proxy: proxyInputs }),
                  ...(snapshotLogitsT === undefined ? {} : { snapshotLogits: snapshotLogitsT }),
                  ...(regressor === undefined ? {} : { regressor }),
                });
                values = tf.keep(tf.stack(composedStep.values) as tf.Tensor1D);
                let loss = composedStep.loss;
                if (anchors.length > 0) {
                  const drift = tf.addN(
                    vars.map((v, i) => tf.sum(tf.squaredDifference(v, anchors[i]!))),
                  );
                  loss = tf.add(loss, tf.mul(drift, mu / 2)) as tf.Scalar;
                }
                return loss;
              },
              true,
              trained,
            );
            if (cost === null || correct === undefined || values === undefined) {
              throw new Error('optimizer.minimize returned no loss');
            }
            return [cost, correct, values] as const;
          });
          const [lossValue, correctValue, termValues] = await Promise.all([
            lossT.data(),
            correctT.data(),
            valuesT.data(),
          ]);
          tf.dispose([lossT, correctT, valuesT]);
          const loss = lossValue[0] ?? Number.NaN;
          epochLoss += loss * b;
          epochCorrect += correctValue[0] ?? 0;
          for (let k = 0; k < names.length; k++) termSums[k]! += termValues[k] ?? Number.NaN;
          step++;
          opts.onProgress?.({ epoch, step, steps, loss });
          if (step % yieldEvery === 0) await yieldToEventLoop();
        }
        const means: TermValues = {};
        names.forEach((name, k) => (means[name] = (termSums[k] ?? 0) / stepsPerEpoch));
        if (epoch === 0) firstEpoch = means;
        lastEpoch = means;
      }
    } finally {
      optimizer.dispose();
      for (const anchor of anchors) anchor.dispose();
    }
    return {
      numSamples: data.count,
      steps,
      loss: steps === 0 ? Number.NaN : epochLoss / data.count,
      accuracy: steps === 0 ? Number.NaN : epochCorrect / data.count,
      millis: Date.now() - start,
      terms: { firstEpoch, lastEpoch },
    };
  }
}
