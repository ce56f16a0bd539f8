import { test } from 'node:test';
import assert from 'node:assert/strict';
import { l2Norm } from '../../../../shared/aggregation/robust/index.js';
import { createRng } from '../../../../shared/data/rng.js';
import { clipAndNoise, PrivacyError, secureSeed } from '../../../../shared/privacy/index.js';

test('noise 0: clipping only, exact; within-bound updates pass unchanged', () => {
  const rng = createRng(1);
  // (3, 4) has norm 5; clipped to 1 → (0.6, 0.8).
  const clipped = clipAndNoise(Float32Array.from([3, 4]), { clipNorm: 1, noiseMultiplier: 0, rng });
  assert.ok(Math.abs((clipped[0] as number) - 0.6) < 1e-6);
  assert.ok(Math.abs((clipped[1] as number) - 0.8) < 1e-6);
  assert.ok(l2Norm(clipped) <= 1);
  const inside = Float32Array.from([0.1, -0.2, 0.3]);
  assert.deepEqual(clipAndNoise(inside, { clipNorm: 1, noiseMultiplier: 0, rng }), inside);
  // The clipped norm never exceeds the bound, over many random vectors.
  for (let t = 0; t < 100; t++) {
    const v = Float32Array.from({ length: 1000 }, () => rng.normal() * (1 + rng.int(100)));
    const c = 0.05 + rng.next();
    assert.ok(l2Norm(clipAndNoise(v, { clipNorm: c, noiseMultiplier: 0, rng })) <= c);
  }
});

test('noise statistics: mean ≈ 0 and std ≈ σ·C per coordinate, independent of the update', () => {
  const rng = createRng(2024);
  const C = 0.5;
  const sigma = 1.3;
  const d = 200_000;
  const zeros = new Float32Array(d);
  const noised = clipAndNoise(zeros, { clipNorm: C, noiseMultiplier: sigma, rng });
  let sum = 0;
  let sq = 0;
  for (const v of noised) {
    sum += v;
    sq += v * v;
  }
  const mean = sum / d;
  const std = Math.sqrt(sq / d - mean * mean);
  const expected = sigma * C; // 0.65
  // Standard error of the mean: 0.65/√200000 ≈ 0.00145; of the std: 0.65/√400000 ≈ 0.001.
  assert.ok(Math.abs(mean) < 5 * (expected / Math.sqrt(d)), `mean ${mean}`);
  assert.ok(Math.abs(std - expected) < 5 * (expected / Math.sqrt(2 * d)), `std ${std}`);
  // Gaussian tails: |z| > 3 about 0.27% of the time.
  let beyond3 = 0;
  for (const v of noised) if (Math.abs(v) > 3 * expected) beyond3++;
  assert.ok(Math.abs(beyond3 / d - 0.0027) < 0.0007, `tail fraction ${beyond3 / d}`);

  // On a real update: noise = output − clipped update has the same statistics.
  const update = Float32Array.from({ length: d }, () => rng.normal());
  const out = clipAndNoise(update, { clipNorm: C, noiseMultiplier: sigma, rng });
  const scale = C / l2Norm(update);
  let nsum = 0;
  let nsq = 0;
  for (let i = 0; i < d; i++) {
    const n = (out[i] as number) - (update[i] as number) * scale;
    nsum += n;
    nsq += n * n;
  }
  assert.ok(Math.abs(nsum / d) < 5 * (expected / Math.sqrt(d)));
  assert.ok(Math.abs(Math.sqrt(nsq / d) - expected) < 5 * (expected / Math.sqrt(2 * d)));
});

test('seeded: same rng seed, same noise; input untouched; validation', () => {
  const v = Float32Array.from([1, 2, 3]);
  const a = clipAndNoise(v, { clipNorm: 1, noiseMultiplier: 1, rng: createRng(9) });
  const b = clipAndNoise(v, { clipNorm: 1, noiseMultiplier: 1, rng: createRng(9) });
  assert.deepEqual(a, b);
  assert.deepEqual(v, Float32Array.from([1, 2, 3]));
  const rng = createRng(0);
  assert.throws(() => clipAndNoise(v, { clipNorm: 0, noiseMultiplier: 1, rng }), PrivacyError);
  assert.throws(() => clipAndNoise(v, { clipNorm: 1, noiseMultiplier: -1, rng }), PrivacyError);
  assert.throws(() => clipAndNoise(v, { clipNorm: 1, noiseMultiplier: NaN, rng }), PrivacyError);
  assert.throws(
    () => clipAndNoise(Float32Array.from([1, NaN]), { clipNorm: 1, noiseMultiplier: 1, rng }),
    { name: 'PrivacyError', message: /value 1 is NaN/ },
  );
  const s = secureSeed();
  assert.ok(Number.isSafeInteger(s) && s >= 0);
  assert.notEqual(secureSeed(), s);
});
