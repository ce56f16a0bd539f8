/**
 * Axis ranges for the dashboard's charts, computed from the data so curves
 * that differ by a few points stay apart (an accuracy axis fixed at 0–100%
 * squeezes 80–97% into its top fifth). Pure functions: no DOM, no chart.js.
 */

/**
 * A range for shares in 0..1 around `values`: the data's span padded by a
 * tenth of it (at least one percentage point each side), snapped outwards to
 * whole percents and clamped to 0..1. Undefined without finite values (the
 * chart then picks its own).
 */
export function shareAxisRange(
  values: readonly (number | null)[],
): { min: number; max: number } | undefined {
  const finite = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (finite.length === 0) return undefined;
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const pad = Math.max(0.01, (hi - lo) * 0.1);
  const min = Math.max(0, Math.floor((lo - pad) * 100) / 100);
  const max = Math.min(1, Math.ceil((hi + pad) * 100) / 100);
  return { min, max: max > min ? max : Math.min(1, min + 0.01) };
}

/**
 * A range for a logarithmic loss axis: from the smallest positive value to the
 * largest, widened to the enclosing powers-of-ten halves so one large first
 * round does not flatten the later ones. Undefined without positive values.
 */
export function logAxisRange(
  values: readonly (number | null)[],
): { min: number; max: number } | undefined {
  const positive = values.filter((v): v is number => v !== null && Number.isFinite(v) && v > 0);
  if (positive.length === 0) return undefined;
  const step = 0.5; // half a decade
  const lo = Math.log10(Math.min(...positive));
  const hi = Math.log10(Math.max(...positive));
  const min = 10 ** (Math.floor(lo / step) * step);
  let max = 10 ** (Math.ceil(hi / step) * step);
  if (max <= min) max = min * 10 ** step;
  return { min, max };
}

/**
 * Tick values for a log axis over [min, max]: 1, 2 and 5 × 10ⁿ inside it, and the two
 * ends when fewer than three of those fall inside (a short span such as 0.32–1).
 */
export function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (
    let exponent = Math.floor(Math.log10(min));
    exponent <= Math.ceil(Math.log10(max));
    exponent++
  ) {
    for (const mantissa of [1, 2, 5]) {
      const value = Number((mantissa * 10 ** exponent).toPrecision(12));
      if (value >= min * (1 - 1e-9) && value <= max * (1 + 1e-9)) ticks.push(value);
    }
  }
  if (ticks.length < 3) {
    if (!ticks.some((t) => Math.abs(t - min) <= min * 1e-9)) ticks.unshift(min);
    if (!ticks.some((t) => Math.abs(t - max) <= max * 1e-9)) ticks.push(max);
  }
  return ticks;
}
