/**
 * Fixed-point encoding of float updates into the ring Z/2³² that secure
 * aggregation masks in: v ↦ round(v·scale) mod 2³² (two's complement). Sums of
 * encoded values are exact integer sums as long as the true sum stays within
 * ±(2³¹ − 1); {@link quantize} refuses any value for which n clients' sum could
 * leave that range, so decoding the masked sum gives exactly Σ round(vᵤ·scale) / scale.
 */
import { SecAggError } from './errors.js';

export interface QuantizeOptions {
  /** Fixed-point scale: resolution 1/scale. Finite and > 0. Defaults to 2¹⁶ (resolution ≈ 1.5e-5). */
  scale: number;
  /** Clients whose encoded values will be summed (bounds each value to (2³¹ − 1)/clients). Defaults to 1. */
  clients: number;
}

function resolve(options: Readonly<Partial<QuantizeOptions>>): QuantizeOptions {
  const scale = options.scale ?? 2 ** 16;
  const clients = options.clients ?? 1;
  if (!(scale > 0) || !Number.isFinite(scale)) {
    throw new SecAggError(`scale must be finite and > 0, got ${scale}`, 'bad-option');
  }
  if (!Number.isInteger(clients) || clients < 1) {
    throw new SecAggError(`clients must be an integer ≥ 1, got ${clients}`, 'bad-option');
  }
  return { scale, clients };
}

/** The largest |v| that {@link quantize} accepts with these options. */
export function quantizeBound(options: Readonly<Partial<QuantizeOptions>> = {}): number {
  const { scale, clients } = resolve(options);
  return Math.floor((2 ** 31 - 1) / clients) / scale;
}

/**
 * Encodes each value as round(v·scale) mod 2³².
 * @throws SecAggError `overflow` for a non-finite value or one whose encoding
 *   exceeds (2³¹ − 1)/clients in magnitude (its index named); `bad-option`.
 */
export function quantize(
  values: Float32Array,
  options: Readonly<Partial<QuantizeOptions>> = {},
): Uint32Array {
  const { scale, clients } = resolve(options);
  const limit = Math.floor((2 ** 31 - 1) / clients);
  const out = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const q = Math.round((values[i] as number) * scale);
    if (!(Math.abs(q) <= limit)) {
      throw new SecAggError(
        `value ${i} (${values[i]}) does not fit: |v·scale| must be ≤ ${limit} for ${clients} clients`,
        'overflow',
      );
    }
    out[i] = q; // ToUint32: negative q wraps to 2³² + q
  }
  return out;
}

/**
 * Decodes a ring element (a single encoding or a sum of encodings) back to
 * floats: the two's-complement int32 divided by `scale`, as float32.
 */
export function dequantize(
  encoded: Uint32Array,
  options: Readonly<Partial<Pick<QuantizeOptions, 'scale'>>> = {},
): Float32Array {
  const { scale } = resolve({ scale: options.scale });
  const out = new Float32Array(encoded.length);
  for (let i = 0; i < encoded.length; i++) out[i] = ((encoded[i] as number) | 0) / scale;
  return out;
}
