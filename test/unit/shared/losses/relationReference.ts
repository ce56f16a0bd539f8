/**
 * Plain float64 reference implementations of the relation losses, written
 * straight from the papers' definitions with loops, to cross-check the tensor
 * versions on random inputs.
 */

export function seededMatrix(rows: number, cols: number, seed: number): number[][] {
  let state = seed >>> 0;
  const next = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => next() * 4 - 2));
}

const huber = (x: number): number => (Math.abs(x) < 1 ? 0.5 * x * x : Math.abs(x) - 0.5);

function distance(a: number[], b: number[]): number {
  return Math.sqrt(a.reduce((acc, v, i) => acc + (v - (b[i] as number)) ** 2, 0));
}

function psi(e: number[][]): number[][] {
  const n = e.length;
  const d = e.map((a) => e.map((b) => distance(a, b)));
  let sum = 0;
  for (const row of d) for (const v of row) sum += v;
  const mu = sum / (n * (n - 1));
  return d.map((row) => row.map((v) => v / mu));
}

export function rkdDistanceReference(s: number[][], t: number[][]): number {
  const ps = psi(s);
  const pt = psi(t);
  let total = 0;
  ps.forEach((row, i) => row.forEach((v, j) => (total += huber(v - (pt[i]![j] as number)))));
  return total / (s.length * s.length);
}

function cosAt(e: number[][], a: number, b: number, c: number): number {
  if (b === a || c === a) return 0;
  const u = e[b]!.map((v, k) => v - e[a]![k]!);
  const w = e[c]!.map((v, k) => v - e[a]![k]!);
  const dot = u.reduce((acc, v, k) => acc + v * w[k]!, 0);
  return dot / (Math.hypot(...u) * Math.hypot(...w));
}

export function rkdAngleReference(s: number[][], t: number[][]): number {
  const n = s.length;
  let total = 0;
  for (let a = 0; a < n; a++)
    for (let b = 0; b < n; b++)
      for (let c = 0; c < n; c++) total += huber(cosAt(s, a, b, c) - cosAt(t, a, b, c));
  return total / n ** 3;
}

function pktProbs(e: number[][]): number[][] {
  const unit = e.map((r) => {
    const norm = Math.hypot(...r);
    return r.map((v) => v / norm);
  });
  const k = unit.map((a) => unit.map((b) => (a.reduce((acc, v, i) => acc + v * b[i]!, 0) + 1) / 2));
  return k.map((row) => {
    const sum = row.reduce((x, y) => x + y, 0);
    return row.map((v) => v / sum);
  });
}

export function pktReference(s: number[][], t: number[][]): number {
  const eps = 1e-7;
  const ps = pktProbs(s);
  const pt = pktProbs(t);
  let total = 0;
  pt.forEach((row, i) =>
    row.forEach((p, j) => (total += p * Math.log((p + eps) / ((ps[i]![j] as number) + eps)))),
  );
  return total / (s.length * s.length);
}
