/**
 * Logit exchange (FedMD, DS-FL): the proxy samples a round's consensus covers,
 * with targets blended from the federation's consensus and the teacher:
 * `target = w·consensus + (1 − w)·teacher`, row by row. Both are
 * distributions, so the blend is one too.
 */
import type { ProxyData } from '../data/types.js';
import { DatasetError } from '../errors.js';

export function consensusProxy(
  proxy: ProxyData,
  indices: Int32Array,
  consensus: Float32Array,
  consensusWeight: number,
): ProxyData {
  const numClasses = proxy.softLabels.length / proxy.count;
  const featureSize = proxy.x.length / proxy.count;
  if (consensus.length !== indices.length * numClasses) {
    throw new DatasetError(
      `consensus holds ${consensus.length} values for ${indices.length} samples × ${numClasses} classes`,
    );
  }
  if (!(consensusWeight >= 0 && consensusWeight <= 1)) {
    throw new DatasetError(`consensus weight ${consensusWeight} is not in [0, 1]`);
  }
  const x = new Float32Array(indices.length * featureSize);
  const softLabels = new Float32Array(indices.length * numClasses);
  for (let r = 0; r < indices.length; r++) {
    const row = indices[r]!;
    if (!(row >= 0 && row < proxy.count)) {
      throw new DatasetError(
        `consensus index ${row} (position ${r}) is outside the proxy set of ${proxy.count}`,
      );
    }
    x.set(proxy.x.subarray(row * featureSize, (row + 1) * featureSize), r * featureSize);
    for (let c = 0; c < numClasses; c++) {
      softLabels[r * numClasses + c] =
        consensusWeight * consensus[r * numClasses + c]! +
        (1 - consensusWeight) * proxy.softLabels[row * numClasses + c]!;
    }
  }
  return { x, softLabels, count: indices.length };
}

/** Rows of `x` at `indices`, for predictions on a sample of the proxy set. */
export function proxyRows(proxy: ProxyData, indices: Int32Array): Float32Array {
  const featureSize = proxy.x.length / proxy.count;
  const out = new Float32Array(indices.length * featureSize);
  indices.forEach((row, r) => {
    if (!(row >= 0 && row < proxy.count)) {
      throw new DatasetError(
        `proxy index ${row} (position ${r}) is outside the proxy set of ${proxy.count}`,
      );
    }
    out.set(proxy.x.subarray(row * featureSize, (row + 1) * featureSize), r * featureSize);
  });
  return out;
}
