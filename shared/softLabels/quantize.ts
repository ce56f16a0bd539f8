/**
 * 8-bit quantisation of probabilities in [0, 1]: q = round(p · 255).
 *
 * Why fixed-point rather than per-row scaling: soft labels are already in
 * [0, 1], a fixed grid needs no side data, and the decoder renormalises each
 * row anyway. Error bound before renormalisation: |dequantize(q) − p| ≤ 1/510
 * for every p in [0, 1] (half a grid step).
 */

/** Quantisation grid size: probabilities map onto 0..255. */
export const UINT8_LEVELS = 255;

/**
 * p ∈ [0, 1] → round(p · 255). Values outside [0, 1] are clamped (inputs are
 * expected to be probabilities; the clamp only absorbs float rounding like
 * 1.0000001).
 */
export function quantizeProbsUint8(probs: Float32Array): Uint8Array {
  const out = new Uint8Array(probs.length);
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] as number;
    const q = Math.round(p * UINT8_LEVELS);
    out[i] = q < 0 ? 0 : q > UINT8_LEVELS ? UINT8_LEVELS : q;
  }
  return out;
}

/** q → q / 255 (no renormalisation; see decodeSoftLabels for that). */
export function dequantizeProbsUint8(q: Uint8Array): Float32Array {
  const out = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = (q[i] as number) / UINT8_LEVELS;
  return out;
}
