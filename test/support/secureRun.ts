/**
 * Helpers for secure-aggregation runs over sockets: capturing what each
 * client trained (white-box: FedClient keeps its student private), and the
 * largest distance between the coordinator's new global student and the
 * sample-weighted mean the survivors' deltas should have produced.
 */
import { join } from 'node:path';
import * as tfjs from '@tensorflow/tfjs';
import type { FedClient } from '../../client/fedClient.js';
import { roundFolder } from '../../server/checkpoints.js';
import { fileModelLoader } from '../../node/modelFiles.js';
import { getFlatWeights } from '../../shared/index.js';

/** The client's student weights now (right after `round:trained`: start + its delta). */
export function trainedWeights(client: FedClient): Float32Array {
  return getFlatWeights((client as unknown as { model: tfjs.LayersModel }).model);
}

/**
 * max |after − (start + Σ nᵤ(trainedᵤ − start) / Σ nᵤ)| over the survivors u.
 */
export function distanceFromSurvivorsMean(
  start: Float32Array,
  after: Float32Array,
  trained: ReadonlyMap<number, Float32Array>,
  samples: readonly number[],
  survivors: readonly number[],
): number {
  const total = survivors.reduce((sum, i) => sum + samples[i]!, 0);
  let worst = 0;
  for (let k = 0; k < start.length; k++) {
    let mean = 0;
    for (const i of survivors) mean += (samples[i]! * (trained.get(i)![k]! - start[k]!)) / total;
    worst = Math.max(worst, Math.abs(after[k]! - (start[k]! + mean)));
  }
  return worst;
}

/** The global student's weights saved after `round` (its checkpoint). */
export async function checkpointWeights(
  checkpointDir: string,
  round: number,
): Promise<Float32Array> {
  const model = await tfjs.loadLayersModel(
    fileModelLoader(join(checkpointDir, roundFolder(round), 'model.json')),
  );
  const weights = getFlatWeights(model);
  model.dispose();
  return weights;
}
