import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../../../shared/data/rng.js';
import {
  dequantize,
  expandMask,
  quantize,
  quantizeBound,
  reconstructSecret,
  SecAggClient,
  SecAggError,
  SecAggServer,
  SHAMIR_PRIME,
  shareSecret,
} from '../../../../shared/secureAggregation/index.js';
import type { SecAggConfig } from '../../../../shared/secureAggregation/index.js';

interface RunOptions {
  n: number;
  threshold: number;
  length: number;
  /** Clients that share keys but never send their masked input (dropped after the key exchange). */
  dropBeforeInput?: number[];
  /** Clients that send masked input but never answer the unmask request. */
  dropBeforeUnmask?: number[];
  scale?: number;
  seed?: number;
}

interface RunResult {
  sum: Float32Array;
  plain: Float32Array;
  masked: Map<number, Uint32Array>;
  encoded: Map<number, Uint32Array>;
  survivors: number[];
}

/** One full protocol run in memory: n clients with ids 1..n and random float updates. */
async function runProtocol(options: RunOptions): Promise<RunResult> {
  const { n, threshold, length, scale = 2 ** 16, seed = 1 } = options;
  const config: SecAggConfig = { session: `test/${seed}`, threshold, length };
  const rng = createRng(seed);
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  const updates = new Map(
    ids.map((id) => [id, Float32Array.from({ length }, () => rng.normal() * 0.1)] as const),
  );
  const encoded = new Map(
    ids.map(
      (id) => [id, quantize(updates.get(id) as Float32Array, { scale, clients: n })] as const,
    ),
  );
  const server = new SecAggServer(config);
  const clients = new Map(ids.map((id) => [id, new SecAggClient(id, config)] as const));
  for (const c of clients.values()) server.receiveKeys(await c.advertiseKeys());
  const roster = await server.finishAdvertise();
  for (const c of clients.values()) server.receiveShares(await c.shareKeys(roster));
  const inboxes = server.finishShares();
  const masked = new Map<number, Uint32Array>();
  for (const [id, c] of clients) {
    const m = await c.maskInput(inboxes.get(id) ?? [], encoded.get(id) as Uint32Array);
    if (options.dropBeforeInput?.includes(id)) continue; // computed, never delivered
    masked.set(id, m.masked);
    server.receiveMaskedInput(m);
  }
  const survivors = server.finishMaskedInput();
  for (const id of survivors) {
    if (options.dropBeforeUnmask?.includes(id)) continue;
    server.receiveUnmaskShares(await (clients.get(id) as SecAggClient).unmask(survivors));
  }
  const sum = dequantize(await server.finishUnmask(), { scale });
  // The plain fixed-point sum of the survivors, as exact integers.
  const ints = new Float64Array(length);
  for (const id of survivors) {
    const e = encoded.get(id) as Uint32Array;
    for (let i = 0; i < length; i++) ints[i] = (ints[i] as number) + ((e[i] as number) | 0);
  }
  const plain = Float32Array.from(ints, (v) => v / scale);
  return { sum, plain, masked, encoded, survivors };
}

test('no dropouts: the unmasked sum equals the plain fixed-point sum bit for bit', async () => {
  const r = await runProtocol({ n: 5, threshold: 3, length: 1000 });
  assert.deepEqual(r.survivors, [1, 2, 3, 4, 5]);
  assert.deepEqual(r.sum, r.plain);
});

test('1 and 2 clients dropped after the key exchange: masks recovered from shares, sum exact', async () => {
  const one = await runProtocol({ n: 6, threshold: 4, length: 777, dropBeforeInput: [3], seed: 2 });
  assert.deepEqual(one.survivors, [1, 2, 4, 5, 6]);
  assert.deepEqual(one.sum, one.plain);
  const two = await runProtocol({
    n: 7,
    threshold: 4,
    length: 500,
    dropBeforeInput: [1, 7],
    seed: 3,
  });
  assert.deepEqual(two.survivors, [2, 3, 4, 5, 6]);
  assert.deepEqual(two.sum, two.plain);
  // Drops at both points: 2 before input, 1 more silent at unmasking (4 responders ≥ t = 4).
  const both = await runProtocol({
    n: 7,
    threshold: 4,
    length: 300,
    dropBeforeInput: [2, 5],
    dropBeforeUnmask: [6],
    seed: 4,
  });
  assert.deepEqual(both.survivors, [1, 3, 4, 6, 7]);
  assert.deepEqual(both.sum, both.plain, 'a survivor silent at unmasking still counts');
});

test('too many dropouts: the server refuses instead of revealing anything', async () => {
  await assert.rejects(
    runProtocol({ n: 5, threshold: 4, length: 10, dropBeforeInput: [1, 2] }),
    (err: unknown) => err instanceof SecAggError && err.code === 'too-few',
  );
  await assert.rejects(
    runProtocol({ n: 5, threshold: 4, length: 10, dropBeforeUnmask: [1, 2] }),
    (err: unknown) => err instanceof SecAggError && err.code === 'too-few',
  );
});

test('a single masked update looks uniform: byte chi-square and ~0 correlation with the input', async () => {
  const length = 65536;
  const r = await runProtocol({ n: 3, threshold: 2, length, seed: 9 });
  const chiSquare = (words: Uint32Array): number => {
    const bytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
    const counts = new Float64Array(256);
    for (const b of bytes) counts[b] = (counts[b] as number) + 1;
    const expected = bytes.length / 256;
    let chi = 0;
    for (const c of counts) chi += (c - expected) ** 2 / expected;
    return chi;
  };
  // 255 degrees of freedom: mean 255, sd ≈ 22.6; P(χ² > 400) < 1e-8.
  const maskedChi = chiSquare(r.masked.get(1) as Uint32Array);
  assert.ok(maskedChi < 400, `masked update χ² = ${maskedChi}`);
  // The test has power: the unmasked fixed-point update is far from uniform.
  const plainChi = chiSquare(r.encoded.get(1) as Uint32Array);
  assert.ok(plainChi > 10_000, `plain update χ² = ${plainChi}`);
  // Pearson correlation of the masked words (as signed ints) with the true update.
  const x = Float64Array.from(r.encoded.get(1) as Uint32Array, (v) => v | 0);
  const y = Float64Array.from(r.masked.get(1) as Uint32Array, (v) => v | 0);
  const mean = (a: Float64Array): number => a.reduce((s, v) => s + v, 0) / a.length;
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < length; i++) {
    sxy += ((x[i] as number) - mx) * ((y[i] as number) - my);
    sxx += ((x[i] as number) - mx) ** 2;
    syy += ((y[i] as number) - my) ** 2;
  }
  const corr = sxy / Math.sqrt(sxx * syy);
  // Independent: |r| ~ 1/√n ≈ 0.004; 5 standard errors.
  assert.ok(Math.abs(corr) < 5 / Math.sqrt(length), `correlation ${corr}`);
});

test('Shamir: t shares reconstruct, t − 1 do not, and t − 1 shares reveal nothing useful', () => {
  const secret = 0x1234_5678_9abc_def0_1122_3344_5566_7788n;
  const xs = [3, 7, 11, 20, 42];
  const shares = shareSecret(secret, xs, 3);
  assert.equal(reconstructSecret(shares.slice(0, 3)), secret);
  assert.equal(reconstructSecret(shares.slice(2, 5)), secret);
  assert.equal(reconstructSecret([shares[0], shares[2], shares[4]].map((s) => s!)), secret);
  assert.equal(reconstructSecret(shares), secret, 'more than t also works');
  // Two shares (t − 1): interpolating a line through them gives a wrong value.
  const wrong = reconstructSecret(shares.slice(0, 2));
  assert.notEqual(wrong, secret);
  // t − 1 shares of fresh sharings of the same secret: the interpolated value is a
  // different random field element each time, never the secret.
  const guesses = new Set<bigint>();
  for (let k = 0; k < 200; k++) {
    const g = reconstructSecret(shareSecret(secret, xs, 3).slice(0, 2));
    assert.ok(g !== secret && g >= 0n && g < SHAMIR_PRIME);
    guesses.add(g);
  }
  assert.equal(guesses.size, 200);
  // The first share alone of a t = 2 sharing is uniform too: its top byte spreads out.
  const topBytes = new Set<bigint>();
  for (let k = 0; k < 200; k++) topBytes.add(shareSecret(secret, xs, 2)[0]!.y >> 513n);
  assert.ok(topBytes.size > 100, `${topBytes.size} distinct top bytes of 200`);
  assert.throws(() => shareSecret(secret, xs, 6), { name: 'SecAggError', code: 'bad-option' });
  assert.throws(() => shareSecret(secret, [1, 1, 2], 2), { code: 'duplicate' });
  assert.throws(() => shareSecret(secret, [0, 1, 2], 2), { code: 'unknown-client' });
  assert.throws(() => shareSecret(SHAMIR_PRIME, xs, 2), { code: 'overflow' });
});

test('fixed point: round trip, exact sums, overflow refused', () => {
  const values = Float32Array.from([0, 1.5, -1.5, 0.1, -1e-6, 100]);
  const q = quantize(values, { scale: 1024, clients: 4 });
  assert.deepEqual(Array.from(q.slice(0, 3)), [0, 1536, 2 ** 32 - 1536]);
  const back = dequantize(q, { scale: 1024 });
  for (let i = 0; i < values.length; i++) {
    assert.ok(Math.abs((back[i] as number) - (values[i] as number)) <= 0.5 / 1024);
  }
  // Four clients at the bound sum without wrapping.
  const bound = quantizeBound({ scale: 1024, clients: 4 });
  assert.equal(bound, 536870911 / 1024); // ⌊(2³¹ − 1)/4⌋ / scale
  const atBound = quantize(Float32Array.from([-524287.5]), { scale: 1024, clients: 4 });
  const sum = new Uint32Array(1);
  for (let k = 0; k < 4; k++) sum[0] = (sum[0] as number) + (atBound[0] as number);
  assert.equal(dequantize(sum, { scale: 1024 })[0], -4 * 524287.5);
  assert.throws(() => quantize(Float32Array.from([bound * 1.01]), { scale: 1024, clients: 4 }), {
    name: 'SecAggError',
    code: 'overflow',
  });
  assert.throws(() => quantize(Float32Array.from([NaN])), { code: 'overflow' });
  assert.throws(() => quantize(values, { scale: 0 }), { code: 'bad-option' });
});

test('masks: deterministic per seed, different across seeds', async () => {
  const seed = new Uint8Array(32).fill(7);
  const a = await expandMask(seed, 1000);
  const b = await expandMask(seed, 1000);
  assert.deepEqual(a, b);
  const other = await expandMask(new Uint8Array(32).fill(8), 1000);
  assert.notDeepEqual(a, other);
  // A prefix of a longer expansion is the shorter expansion (CTR keystream).
  assert.deepEqual((await expandMask(seed, 2000)).subarray(0, 1000), a);
});

test('protocol misuse is refused with typed errors and no state change', async () => {
  const config: SecAggConfig = { session: 'misuse', threshold: 2, length: 4 };
  const server = new SecAggServer(config);
  const c1 = new SecAggClient(1, config);
  const c2 = new SecAggClient(2, config);
  const c3 = new SecAggClient(3, config);
  const k1 = await c1.advertiseKeys();
  server.receiveKeys(k1);
  assert.throws(() => server.receiveKeys(k1), { code: 'duplicate' });
  assert.throws(() => server.receiveKeys({ ...k1, id: 9, maskKey: new Uint8Array(3) }), {
    code: 'bad-message',
  });
  // A 65-byte key that is not a curve point: dropped from the roster at finishAdvertise.
  const bogus = new Uint8Array(65).fill(1);
  server.receiveKeys({ id: 9, channelKey: bogus, maskKey: bogus });
  assert.throws(() => server.finishShares(), { code: 'phase' });
  server.receiveKeys(await c2.advertiseKeys());
  server.receiveKeys(await c3.advertiseKeys());
  const roster = await server.finishAdvertise();
  assert.deepEqual(
    roster.map((r) => r.id),
    [1, 2, 3],
  );
  assert.throws(() => server.receiveKeys(k1), { code: 'phase' });
  await assert.rejects(c1.advertiseKeys(), { code: 'phase' });
  // A roster that alters a client's own key is refused by that client.
  const tampered = roster.map((r) => (r.id === 1 ? { ...r, maskKey: roster[1]!.maskKey } : r));
  await assert.rejects(c1.shareKeys(tampered), { code: 'bad-message' });
  assert.equal(c1.phase, 'advertised', 'a refused step leaves the client where it was');
  const s1 = await c1.shareKeys(roster);
  assert.throws(() => server.receiveShares({ id: 1, shares: s1.shares.slice(0, 1) }), {
    code: 'bad-message',
  });
  assert.throws(() => server.receiveShares({ id: 4, shares: [] }), { code: 'unknown-client' });
  server.receiveShares(s1);
  server.receiveShares(await c2.shareKeys(roster));
  server.receiveShares(await c3.shareKeys(roster));
  const inboxes = server.finishShares();
  // A share swapped to the wrong recipient does not authenticate.
  const forC2 = inboxes.get(2)!;
  const misrouted = forC2.filter((s) => s.from === 1).map((s) => ({ ...s, to: 3 }));
  await assert.rejects(c3.maskInput(misrouted, new Uint32Array(4)), {
    code: 'bad-message',
    message: /from client 1 to 3 do not authenticate/,
    culprits: [1],
  });
  const corrupted = inboxes
    .get(3)!
    .map((s, i) =>
      i === 0 ? { ...s, ciphertext: s.ciphertext.map((b, j) => (j === 0 ? b ^ 1 : b)) } : s,
    );
  // Every share is tried: the error names each sender whose share did not open.
  await assert.rejects(c3.maskInput(corrupted, new Uint32Array(4)), {
    code: 'bad-message',
    culprits: [corrupted[0]!.from],
  });
  const bothCorrupted = corrupted.map((s) => ({ ...s, iv: s.iv.map((b) => b ^ 1) }));
  await assert.rejects(c3.maskInput(bothCorrupted, new Uint32Array(4)), {
    code: 'bad-message',
    culprits: bothCorrupted.map((s) => s.from),
  });
  // A share from itself is a routing error, not a culprit.
  await assert.rejects(c3.maskInput([{ ...corrupted[0]!, from: 3 }], new Uint32Array(4)), {
    code: 'unknown-client',
  });
  await assert.rejects(c3.maskInput(inboxes.get(3)!, new Uint32Array(5)), { code: 'bad-message' });
  const m3 = await c3.maskInput(inboxes.get(3)!, new Uint32Array(4));
  assert.throws(() => server.receiveMaskedInput({ id: 3, masked: new Uint32Array(3) }), {
    code: 'bad-message',
  });
  server.receiveMaskedInput(m3);
  assert.throws(() => server.receiveMaskedInput(m3), { code: 'duplicate' });
  server.receiveMaskedInput(await c1.maskInput(inboxes.get(1)!, new Uint32Array(4)));
  await c2.maskInput(inboxes.get(2)!, new Uint32Array(4)); // client 2 drops here
  const survivors = server.finishMaskedInput();
  assert.deepEqual(survivors, [1, 3]);
  // A survivor list below t, or one without the client, is refused by the client.
  await assert.rejects(c1.unmask([1]), { code: 'too-few' });
  await assert.rejects(c1.unmask([2, 3]), { code: 'bad-message' });
  const u1 = await c1.unmask(survivors);
  // Revealing both kinds of share for one client is impossible: the client answers once.
  await assert.rejects(c1.unmask([1, 2, 3]), { code: 'phase' });
  server.receiveUnmaskShares(u1);
  await assert.rejects(server.finishUnmask(), { code: 'too-few' });
  assert.equal(server.phase, 'unmask', 'more responses may still arrive');
  assert.throws(
    () => server.receiveUnmaskShares({ id: 3, selfMaskShares: [], maskKeyShares: [] }),
    { code: 'bad-message' },
  );
  server.receiveUnmaskShares(await c3.unmask(survivors));
  assert.deepEqual(Array.from(await server.finishUnmask()), [0, 0, 0, 0]);
  assert.equal(server.phase, 'done');
  assert.throws(() => new SecAggServer({ ...config, threshold: 0 }), { code: 'bad-option' });
  assert.throws(() => new SecAggClient(0, config), { code: 'unknown-client' });
});
