import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  computeEpsilon,
  computeRdp,
  DEFAULT_RDP_ORDERS,
  epsilonFromRdp,
  PrivacyError,
  RdpAccountant,
  rdpOfSampledGaussian,
} from '../../../../shared/privacy/index.js';
import { logErfc } from '../../../../shared/privacy/logMath.js';

function near(actual: number, expected: number, rel: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= rel * Math.abs(expected),
    `${what}: ${actual} vs ${expected} (rel ${rel})`,
  );
}

/** TensorFlow Privacy's compute_dp_sgd_privacy: q = batch/n, steps = ⌈epochs·n/batch⌉. */
function dpSgd(
  n: number,
  batch: number,
  sigma: number,
  epochs: number,
  delta: number,
  conversion: 'improved' | 'classic' = 'improved',
): { epsilon: number; order: number } {
  return computeEpsilon({
    samplingRate: batch / n,
    noiseMultiplier: sigma,
    steps: Math.ceil((epochs * n) / batch),
    delta,
    conversion,
  });
}

test('q = 1: RDP is α/(2σ²) per step, composed linearly; ε is the closed-form minimum', () => {
  const sigma = 2;
  const orders = [1.5, 2, 3, 10, 32.5];
  const rdp = computeRdp({ samplingRate: 1, noiseMultiplier: sigma, steps: 7, orders });
  orders.forEach((a, k) => near(rdp[k] as number, (7 * a) / (2 * sigma * sigma), 1e-15, `α=${a}`));
  // Classic conversion by hand: ε = min_α 7α/8 + log(1e5)/(α − 1); over the grid it is
  // α = 4.5: 3.9375 + 11.512925/3.5 = 7.2269...; α = 5: 4.375 + 2.878231 = 7.253231.
  const grid = [2, 3, 4, 4.5, 5, 6];
  const classic = computeEpsilon({
    samplingRate: 1,
    noiseMultiplier: sigma,
    steps: 7,
    delta: 1e-5,
    orders: grid,
    conversion: 'classic',
  });
  const byHand = Math.min(...grid.map((a) => (7 * a) / 8 + Math.log(1e5) / (a - 1)));
  near(classic.epsilon, byHand, 1e-14, 'classic');
  near(classic.epsilon, 3.9375 + Math.log(1e5) / 3.5, 1e-14, 'classic at α = 4.5');
  assert.equal(classic.order, 4.5);
  // Continuous optimum of T·α/(2σ²) + log(1/δ)/(α − 1): α* = 1 + √(2σ²·log(1/δ)/T),
  // ε* = T/(2σ²) + 2·√(T·log(1/δ)/(2σ²)). A fine grid gets within 1e-6 of it.
  const fine = Array.from({ length: 20000 }, (_, i) => 1.001 + i * 0.001);
  const T = 7;
  const L = Math.log(1e5);
  const closed = T / (2 * sigma * sigma) + 2 * Math.sqrt((T * L) / (2 * sigma * sigma));
  const eps = computeEpsilon({
    samplingRate: 1,
    noiseMultiplier: sigma,
    steps: T,
    delta: 1e-5,
    orders: fine,
    conversion: 'classic',
  });
  near(eps.epsilon, closed, 1e-6, 'continuous optimum');
  near(eps.order, 1 + Math.sqrt((2 * sigma * sigma * L) / T), 1e-3, 'optimal order');
  // The improved conversion is never worse.
  const improved = computeEpsilon({
    samplingRate: 1,
    noiseMultiplier: sigma,
    steps: T,
    delta: 1e-5,
    orders: fine,
  });
  assert.ok(improved.epsilon < eps.epsilon);
});

test('matches TensorFlow Privacy reference values', () => {
  // tensorflow/privacy, tensorflow_privacy/privacy/analysis/compute_dp_sgd_privacy_test.py,
  // test_compute_dp_sgd_privacy: (n, batch, σ, epochs, δ) → (ε, optimal order)
  //   (60000, 150, 1.3, 15, 1e-5) → 0.7242234026109595, 19
  //   (100000, 100, 1.0, 30, 1e-7) → 1.4154988495444842, 13
  //   (100000000, 1024, 0.1, 10, 1e-7) → 5907982.3113978775, 1.25 (a fractional order)
  // (checked there with assertAlmostEqual, 7 decimal places).
  const a = dpSgd(60000, 150, 1.3, 15, 1e-5);
  near(a.epsilon, 0.7242234026109595, 1e-9, 'Test0');
  assert.equal(a.order, 19);
  const b = dpSgd(100000, 100, 1.0, 30, 1e-7);
  near(b.epsilon, 1.4154988495444842, 1e-9, 'Test1');
  assert.equal(b.order, 13);
  const c = dpSgd(100000000, 1024, 0.1, 10, 1e-7);
  near(c.epsilon, 5907982.3113978775, 1e-9, 'Test2');
  assert.equal(c.order, 1.25);

  // tensorflow/privacy, tensorflow_privacy/privacy/analysis/compute_dp_sgd_privacy.py (the
  // script's docstring, written for the classic conversion of the time):
  //   --N=60000 --batch_size=256 --noise_multiplier=1.12 --epochs=60 --delta=1e-5
  //   "satisfies (2.92, 1e-5)-DP".
  const tutorial = dpSgd(60000, 256, 1.12, 60, 1e-5, 'classic');
  assert.equal(tutorial.epsilon.toFixed(2), '2.92');
  // σ = 1.1 (the MNIST tutorial's multiplier): ε ≈ 3.01 classic, ≈ 2.60 improved.
  assert.equal(dpSgd(60000, 256, 1.1, 60, 1e-5, 'classic').epsilon.toFixed(2), '3.01');
  assert.equal(dpSgd(60000, 256, 1.1, 60, 1e-5).epsilon.toFixed(2), '2.60');

  // rdp_accountant_test.py, test_compute_rdp_sequence: compute_rdp(q=0.01, σ=2.5, steps=50,
  // orders [1.5, 2.5, 5, 50, 100, ∞]) = [0.00065, 0.001085, 0.00218075, 0.023846, 167.416307, ∞]
  // (±1e-5), and test_compute_rdp_scalar: compute_rdp(0.1, 2, 10, 5) = 0.07737 (5 places).
  const seq = computeRdp({
    samplingRate: 0.01,
    noiseMultiplier: 2.5,
    steps: 50,
    orders: [1.5, 2.5, 5, 50, 100, Infinity],
  });
  [0.00065, 0.001085, 0.00218075, 0.023846, 167.416307].forEach((e, k) =>
    assert.ok(Math.abs((seq[k] as number) - e) < 1e-5, `order ${k}: ${seq[k]} vs ${e}`),
  );
  assert.equal(seq[5], Infinity);
  const scalar = computeRdp({ samplingRate: 0.1, noiseMultiplier: 2, steps: 10, orders: [5] });
  assert.equal((scalar[0] as number).toFixed(5), '0.07737');

  // rdp_privacy_accountant_test.py, test_compute_epsilon_delta_pure_dp: constant RDP 1.1 at
  // orders 2..32, δ = 1e-5 → ε = 1.32783806176 (at α = 32); and
  // test_compute_epsilon_delta_gaussian: q = 1, σ = 4.530877117, orders 1.000..99.999 step
  // 0.001 (we skip α = 1) → ε = 1 at δ = 1e-6 (7 places).
  const orders = Array.from({ length: 31 }, (_, i) => i + 2);
  const pure = epsilonFromRdp(
    orders,
    orders.map(() => 1.1),
    1e-5,
  );
  near(pure.epsilon, 1.32783806176, 1e-10, 'pure DP');
  assert.equal(pure.order, 32);
  const grid = Array.from({ length: 98999 }, (_, i) => 1.001 + i * 0.001);
  const one = computeEpsilon({
    samplingRate: 1,
    noiseMultiplier: 4.530877117,
    steps: 1,
    delta: 1e-6,
    orders: grid,
  });
  assert.ok(Math.abs(one.epsilon - 1) < 5e-8, `ε ${one.epsilon}`);
});

test('sampled Gaussian RDP equals a high-precision numerical integral of A_α', () => {
  // Reference: A_α = ∫ N(z; 0, σ²)·((1 − q) + q·exp((2z − 1)/(2σ²)))^α dz by mpmath.quad
  // (30 digits), RDP = log(A_α)/(α − 1), computed once in Python for this test.
  const cases: [number, number, number, number][] = [
    // [q, σ, α, RDP]
    [1e-4, 1, 1.5, 1.2885373940727913e-8],
    [1e-3, 1, 2, 1.7182803522127806e-6],
    [0.01, 10, 20, 1.0068263112013482e-5],
    [0.1, 100, 20.5, 1.0252214593910356e-5],
    [0.5, 2, 3.5, 0.13289554040636092],
    [0.01, 1.1, 7.25, 0.000518939211024565],
    [0.2, 0.8, 2.75, 0.30549426367722765],
  ];
  for (const [q, sigma, alpha, expected] of cases) {
    const got = rdpOfSampledGaussian({ samplingRate: q, noiseMultiplier: sigma }, alpha);
    near(got, expected, 1e-6, `q=${q} σ=${sigma} α=${alpha}`);
  }
});

test('logErfc: exact points, symmetry and the far tail', () => {
  near(logErfc(1), Math.log(0.157299207050285), 1e-14, 'erfc(1)');
  near(logErfc(3), Math.log(2.209049699858544e-5), 1e-14, 'erfc(3)');
  near(logErfc(-1), Math.log(1.842700792949715), 1e-14, 'erfc(−1)');
  assert.ok(logErfc(0) === 0);
  // Asymptotic series: log erfc(x) = −x² − log(x√π) − 1/(2x²) + 5/(8x⁴) − 37/(24x⁶) + …
  const x = 40;
  const series = -x * x - Math.log(x * Math.sqrt(Math.PI)) - 1 / (2 * x ** 2) + 5 / (8 * x ** 4);
  near(logErfc(x), series - 37 / (24 * x ** 6), 1e-15, 'tail');
});

test('edge cases: q = 0 is free, σ = 0 is ∞, validation', () => {
  assert.equal(
    computeEpsilon({ samplingRate: 0, noiseMultiplier: 1, steps: 100, delta: 1e-5 }).epsilon,
    0,
  );
  assert.equal(
    computeEpsilon({ samplingRate: 0.5, noiseMultiplier: 0, steps: 1, delta: 1e-5 }).epsilon,
    Infinity,
  );
  assert.equal(
    computeEpsilon({ samplingRate: 0.5, noiseMultiplier: 1, steps: 0, delta: 1e-5 }).epsilon,
    0,
  );
  const bad = [
    { samplingRate: 1.5, noiseMultiplier: 1, steps: 1, delta: 1e-5 },
    { samplingRate: 0.1, noiseMultiplier: -1, steps: 1, delta: 1e-5 },
    { samplingRate: 0.1, noiseMultiplier: 1, steps: -1, delta: 1e-5 },
    { samplingRate: 0.1, noiseMultiplier: 1, steps: 1, delta: 0 },
    { samplingRate: 0.1, noiseMultiplier: 1, steps: 1, delta: 1e-5, orders: [1] },
    { samplingRate: 0.1, noiseMultiplier: 1, steps: 1, delta: 1e-5, orders: [] },
  ];
  for (const options of bad) {
    assert.throws(() => computeEpsilon(options), PrivacyError, JSON.stringify(options));
  }
  assert.throws(() => epsilonFromRdp([2, 3], [0.1], 1e-5), { name: 'PrivacyError' });
  // More noise, less sampling, fewer steps: never more ε.
  const base = { samplingRate: 0.01, noiseMultiplier: 1, steps: 1000, delta: 1e-5 };
  const e0 = computeEpsilon(base).epsilon;
  assert.ok(computeEpsilon({ ...base, noiseMultiplier: 1.5 }).epsilon < e0);
  assert.ok(computeEpsilon({ ...base, samplingRate: 0.005 }).epsilon < e0);
  assert.ok(computeEpsilon({ ...base, steps: 500 }).epsilon < e0);
});

test('RdpAccountant composes rounds: equal to one computeEpsilon call, heterogeneous rounds add', () => {
  const acc = new RdpAccountant();
  assert.deepEqual(acc.orders, DEFAULT_RDP_ORDERS);
  for (let round = 0; round < 50; round++) acc.compose({ samplingRate: 0.1, noiseMultiplier: 1.2 });
  assert.equal(acc.steps, 50);
  const once = computeEpsilon({ samplingRate: 0.1, noiseMultiplier: 1.2, steps: 50, delta: 1e-5 });
  near(acc.getEpsilon(1e-5).epsilon, once.epsilon, 1e-12, 'composed');
  acc.compose({ samplingRate: 1, noiseMultiplier: 5 }, 3);
  const rdp = acc.rdp();
  const extra = computeRdp({ samplingRate: 1, noiseMultiplier: 5, steps: 3 });
  const first = computeRdp({ samplingRate: 0.1, noiseMultiplier: 1.2, steps: 50 });
  rdp.forEach((r, k) => near(r, (first[k] as number) + (extra[k] as number), 1e-12, `order ${k}`));
  assert.ok(acc.getEpsilon(1e-5).epsilon > once.epsilon);
  // A failed compose changes nothing.
  assert.throws(() => acc.compose({ samplingRate: 2, noiseMultiplier: 1 }), PrivacyError);
  assert.equal(acc.steps, 53);
});
