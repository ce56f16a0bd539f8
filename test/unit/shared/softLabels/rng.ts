/** A tiny seeded PRNG (mulberry32) so these tests do not depend on shared/data. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Teacher-like probability rows: softmax(z · sharpness) with z ~ N(0, 1), so
 * rows range from nearly uniform (small sharpness) to peaked; plus a
 * Dirichlet(1) component (normalised exponentials) for flat-tailed rows.
 */
export function randomProbRows(rng: () => number, rows: number, classes: number): Float32Array {
  const out = new Float32Array(rows * classes);
  for (let r = 0; r < rows; r++) {
    const dirichlet = r % 3 === 0;
    const sharpness = 0.5 + 4 * rng();
    const row: number[] = [];
    for (let c = 0; c < classes; c++) {
      if (dirichlet) row.push(-Math.log(1 - rng()));
      else {
        const normal = Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
        row.push(Math.exp(normal * sharpness));
      }
    }
    const sum = row.reduce((a, b) => a + b, 0);
    for (let c = 0; c < classes; c++) out[r * classes + c] = (row[c] as number) / sum;
  }
  return out;
}
