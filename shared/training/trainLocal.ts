/**
 * One client's local training for a round: minibatch steps on its private
 * labelled data, each combined with a batch of the public proxy set carrying
 * the teacher's soft labels. Uses the fast forward of shared/models so it runs
 * at full speed (and at all, for CNNs) on the wasm backend.
 */
import * as tf from '@tensorflow/tfjs';
import { DatasetError, DistillationInputError } from '../errors.js';
import { createRng } from '../data/index.js';
import type { LabeledData, ProxyData, Rng } from '../data/index.js';
import { distillationLoss } from '../losses/index.js';
import { createFastForward, trainableVariables } from '../models/index.js';
import type { ModelSpec } from '../models/index.js';
import { checkFeatures, gatherRows } from './batches.js';

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
}

export interface LocalTrainResult {
  /** `data.count`: the weight of this update in FedAvg. */
  numSamples: number;
  steps: number;
  /** Mean loss over the last epoch (per private sample). */
  loss: number;
  /** Training accuracy on the private data over the last epoch (dropout on). */
  accuracy: number;
  millis: number;
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

/**
 * Trains `model` in place for `config.epochs` passes over `data`. Each step:
 *
 *   loss = α·CE(labels, softmax(s_private)) + proxyWeight·(1−α)·T²·KL(p_teacher ‖ softmax(s_proxy/T))
 *
 * (CE alone without a proxy; the proxy term alone when α = 0). Batch order is
 * seeded. An optimizer is created for the call and disposed at the end, so no
 * optimizer state carries over between rounds. No tensors outlive the call
 * (besides the model's own variables).
 *
 * @throws DistillationInputError on a bad config, DatasetError on data whose
 *   sizes or labels do not fit the spec.
 */
export async function trainLocal(opts: LocalTrainOptions): Promise<LocalTrainResult> {
  const start = Date.now();
  const { model, spec, data, config } = opts;
  checkConfig(config);
  const featureSize = spec.inputShape.reduce((a, b) => a * b, 1);
  const numClasses = spec.numClasses;
  checkData(data, featureSize, numClasses);
  const alpha = config.alpha;
  const proxy = opts.proxy !== undefined && alpha < 1 ? opts.proxy : undefined;
  if (proxy !== undefined) checkProxy(proxy, featureSize, numClasses);
  const useHard = proxy === undefined || alpha > 0;
  const proxyScale = (1 - alpha) * (config.proxyWeight ?? 1);
  const yieldEvery = Math.max(1, opts.yieldEvery ?? 4);

  const seed = opts.seed ?? 0;
  const rng = createRng(seed);
  const forward = createFastForward(model, spec, { dropoutSeed: (seed * 7919 + 1) >>> 0 });
  const vars = trainableVariables(model);
  const batchSize = Math.min(config.batchSize, data.count);
  const proxyBatchSize = config.proxyBatchSize ?? config.batchSize;
  const stepsPerEpoch = Math.ceil(data.count / batchSize);
  const steps = stepsPerEpoch * config.epochs;
  const privateOrder = Int32Array.from({ length: data.count }, (_, i) => i);
  const proxyStream = proxy === undefined ? undefined : new IndexStream(proxy.count, rng);
  // Reused host buffers for the batches (one full-size batch each).
  const xBuf = new Float32Array(batchSize * featureSize);
  const yBuf = new Int32Array(batchSize);
  const pxBuf = new Float32Array(proxyBatchSize * featureSize);
  const ptBuf = new Float32Array(proxyBatchSize * numClasses);

  const optimizer = createOptimizer(config.optimizer ?? 'adam', config.learningRate);
  const mu = config.proximalMu ?? 0;
  const anchors = mu > 0 ? vars.map((v) => tf.keep(v.clone())) : [];
  let step = 0;
  let epochLoss = 0;
  let epochCorrect = 0;
  try {
    for (let epoch = 0; epoch < config.epochs; epoch++) {
      rng.shuffle(privateOrder);
      epochLoss = 0;
      epochCorrect = 0;
      for (let s = 0; s < stepsPerEpoch; s++) {
        if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('training aborted');
        const begin = s * batchSize;
        const rows = privateOrder.subarray(begin, Math.min(begin + batchSize, data.count));
        const b = rows.length;
        gatherRows(data.x, featureSize, rows, xBuf);
        for (let i = 0; i < b; i++) yBuf[i] = data.y[rows[i] ?? 0] ?? 0;
        const proxyRows = proxyStream?.take(proxyBatchSize);

        const [lossT, correctT] = tf.tidy(() => {
          const x = tf.tensor(xBuf.subarray(0, b * featureSize), [b, ...spec.inputShape]);
          const labels = tf.tensor1d(yBuf.subarray(0, b), 'int32');
          let px: tf.Tensor | undefined;
          let pt: tf.Tensor2D | undefined;
          if (proxy !== undefined && proxyRows !== undefined) {
            gatherRows(proxy.x, featureSize, proxyRows, pxBuf);
            gatherRows(proxy.softLabels, numClasses, proxyRows, ptBuf);
            px = tf.tensor(pxBuf, [proxyBatchSize, ...spec.inputShape]);
            pt = tf.tensor2d(ptBuf, [proxyBatchSize, numClasses]);
          }
          let correct: tf.Scalar | undefined;
          const cost = optimizer.minimize(
            () => {
              const logits = forward(x, true).logits;
              correct = tf.keep(
                tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32')),
              ) as tf.Scalar;
              let loss: tf.Scalar = tf.scalar(0);
              if (useHard) {
                const ce = distillationLoss({
                  studentLogits: logits,
                  labels,
                  temperature: config.temperature,
                  alpha: 1,
                  checkValues: false,
                });
                loss = proxy === undefined ? ce : tf.mul(ce, alpha);
              }
              if (px !== undefined && pt !== undefined) {
                const soft = distillationLoss({
                  studentLogits: forward(px, true).logits,
                  teacherProbs: pt,
                  temperature: config.temperature,
                  alpha: 0,
                  checkValues: false,
                });
                loss = tf.add(loss, tf.mul(soft, proxyScale)) as tf.Scalar;
              }
              if (anchors.length > 0) {
                const drift = tf.addN(
                  vars.map((v, i) => tf.sum(tf.squaredDifference(v, anchors[i]!))),
                );
                loss = tf.add(loss, tf.mul(drift, mu / 2)) as tf.Scalar;
              }
              return loss;
            },
            true,
            vars,
          );
          if (cost === null || correct === undefined) {
            throw new Error('optimizer.minimize returned no loss');
          }
          return [cost, correct] as const;
        });
        const [lossValue, correctValue] = await Promise.all([lossT.data(), correctT.data()]);
        lossT.dispose();
        correctT.dispose();
        const loss = lossValue[0] ?? Number.NaN;
        epochLoss += loss * b;
        epochCorrect += correctValue[0] ?? 0;
        step++;
        opts.onProgress?.({ epoch, step, steps, loss });
        if (step % yieldEvery === 0) await yieldToEventLoop();
      }
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
  };
}
