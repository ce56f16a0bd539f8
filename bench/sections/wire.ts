/**
 * Bytes on the wire and what they cost in accuracy.
 *
 * - Update bytes per round per client for float32 / float16 / int8 deltas of
 *   the MLP 784-800-800-10: the encoded `update` message (msgpack, as sent)
 *   against raw float32 of the same weights (4 bytes per parameter).
 * - Soft labels of the demo proxy set (the teacher's real outputs at T = 4):
 *   dense float32 / float16 / uint8 and top-k (k = 1, 3, 5) artifacts, with
 *   the mean total-variation distance of the decoded rows to the exact ones.
 * - Accuracy cost: a short demo-like federation per option (same seed, same
 *   data, same clients), final student accuracy on the held-out split.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCodec, encodeWeights } from '../../shared/codec/index.js';
import type { WeightPrecision } from '../../shared/codec/index.js';
import { buildModel, mlpSpec, weightSegments } from '../../shared/models/index.js';
import type { SoftLabelPrecision } from '../../shared/softLabels/index.js';
import { decodeSoftLabels, encodeSoftLabels } from '../../shared/softLabels/index.js';
import { selectNodeBackend } from '../../node/backend.js';
import type { BenchRow } from '../lib/common.js';
import { fillRandom, fmt, log, ratio, runSection, size } from '../lib/common.js';
import type { FederationOptions, FederationResult } from '../lib/federation.js';
import { DEMO_TRAINING, runFederation } from '../lib/federation.js';
import { softmaxRows } from '../../shared/softLabels/index.js';

const HIDDEN = size([800, 800], [64, 64]);
const ROUNDS = size(3, 1);
const CLIENTS = 3;
const STUDENT = size('mlp:128', 'mlp:16');
const TEACHER = size('mlp:256', 'mlp:32');
const TEACHER_EPOCHS = size(3, 1);
const TEMPERATURE = DEMO_TRAINING.temperature;

const pct = (v: number | null | undefined): string =>
  v === null || v === undefined ? 'n/a' : `${(v * 100).toFixed(2)}%`;

function updateBytes(): BenchRow[] {
  const spec = mlpSpec(784, HIDDEN, 10);
  const model = buildModel(spec, 1);
  const segments = weightSegments(model);
  model.dispose();
  const params = segments.reduce((a, b) => a + b, 0);
  const delta = fillRandom(new Float32Array(params), 3, 0.01);
  const codec = createCodec();
  const raw = params * 4;
  const name = `MLP ${[784, ...HIDDEN, 10].join('-')} (${fmt(params)} params)`;
  return (['float32', 'float16', 'int8'] as WeightPrecision[]).map((precision) => {
    const bytes = codec.encode({
      roundId: 1,
      modelVersion: 0,
      numSamples: 600,
      delta: encodeWeights(delta, precision, { segments }),
      metrics: { loss: 0.5, accuracy: 0.9, trainMillis: 1000, steps: 20 },
    }).byteLength;
    return {
      id: `wire.update.${precision}`,
      item: `Update per round per client, ${name}: ${precision}`,
      value: `${fmt(bytes)} B`,
      reference: `raw float32 ${fmt(raw)} B`,
      ratio: ratio(bytes, raw, 3),
      note:
        precision === 'int8'
          ? `per-tensor scales (${segments.length} segments)`
          : 'whole update message as sent (msgpack)',
    };
  });
}

/** Row-wise softmax(logits / T) on the host. */

function softLabelRows(run: FederationResult): BenchRow[] {
  const numClasses = 10;
  const count = run.proxy.count;
  const probs = softmaxRows(run.proxyTeacherLogits, numClasses, TEMPERATURE);
  const codec = createCodec();
  const raw = count * numClasses * 4;
  const variants: { topK: number; precision: SoftLabelPrecision }[] = [
    { topK: numClasses, precision: 'float32' },
    { topK: numClasses, precision: 'float16' },
    { topK: numClasses, precision: 'uint8' },
    { topK: 1, precision: 'float16' },
    { topK: 3, precision: 'float16' },
    { topK: 5, precision: 'float16' },
    { topK: 3, precision: 'uint8' },
  ];
  return variants.map(({ topK, precision }) => {
    const set = encodeSoftLabels(probs, { numClasses, topK, precision });
    const bytes = codec.encode(set).byteLength;
    const decoded = decodeSoftLabels(codec.decode(codec.encode(set)));
    let tv = 0;
    for (let i = 0; i < probs.length; i++) {
      tv += Math.abs((decoded[i] as number) - (probs[i] as number));
    }
    const dense = topK === numClasses;
    return {
      id: `wire.soft.${dense ? 'dense' : `top${topK}`}.${precision}`,
      item: `Soft labels, ${fmt(count)} proxy samples × ${numClasses}: ${dense ? 'dense' : `top-${topK}`} ${precision}`,
      value: `${fmt(bytes)} B`,
      reference: `dense float32 raw ${fmt(raw)} B`,
      ratio: ratio(bytes, raw, 3),
      note: `mean TV distance to exact ${(tv / 2 / count).toExponential(1)}; fetched once per teacher, cached by hash`,
    };
  });
}

async function main(): Promise<BenchRow[]> {
  await selectNodeBackend({ force: 'wasm' });
  const rows = updateBytes();
  const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-bench-wire-'));
  const base: FederationOptions = {
    dataDir,
    clients: CLIENTS,
    rounds: ROUNDS,
    teacherSpec: TEACHER,
    teacherEpochs: TEACHER_EPOCHS,
    student: STUDENT,
    training: DEMO_TRAINING,
    softLabelPrecision: 'float16',
    timeoutMs: size(240_000, 60_000),
  };
  try {
    const runs: { id: string; label: string; options: FederationOptions }[] = [
      ...(['float32', 'float16', 'int8'] as WeightPrecision[]).map((precision) => ({
        id: `acc.update.${precision}`,
        label: `${precision} updates`,
        options: { ...base, training: { ...DEMO_TRAINING, updatePrecision: precision } },
      })),
      {
        id: 'acc.soft.top1.float16',
        label: 'top-1 soft labels (float32 updates)',
        options: { ...base, softLabelTopK: 1 },
      },
      {
        id: 'acc.soft.top3.uint8',
        label: 'top-3 uint8 soft labels (float32 updates)',
        options: { ...base, softLabelTopK: 3, softLabelPrecision: 'uint8' },
      },
    ];
    let baseline: number | null = null;
    let first: FederationResult | undefined;
    for (const run of runs) {
      const out = await runFederation(run.options);
      first ??= out;
      const aggregated = out.result.rounds.filter((r) => r.status === 'aggregated');
      const last = aggregated[aggregated.length - 1];
      const accuracy = out.result.finalStudentAccuracy;
      baseline ??= accuracy;
      log(`wire: ${run.label}: accuracy ${pct(accuracy)}, ${aggregated.length} rounds`);
      rows.push({
        id: run.id,
        item: `Demo run, ${CLIENTS} clients × ${ROUNDS} rounds, student ${STUDENT} (${fmt(out.studentParams)} params): ${run.label}`,
        value: `accuracy ${pct(accuracy)}`,
        reference: `float32 updates, dense float16 soft labels ${pct(baseline)}`,
        ratio:
          accuracy === null || baseline === null
            ? 'n/a'
            : `${accuracy - baseline >= 0 ? '+' : ''}${((accuracy - baseline) * 100).toFixed(2)} pp`,
        note: `up ${fmt(last?.bytesUpPerClient ?? 0)} B/client/round (RoundRecord), down ${fmt(last?.bytesDownPerClient ?? 0)} B; teacher ${pct(out.teacherAccuracy)}`,
      });
    }
    if (!first) throw new Error('no federation ran');
    rows.push(...softLabelRows(first));
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  return rows;
}

runSection('wire', main);
