/**
 * Codec throughput: a 1M-parameter weight set through the wire path
 * (encodeWeights → createCodec().encode → decode → decodeWeights), in MB/s of
 * float32 weights, against the limit (a plain Float32Array.set copy of the
 * same bytes, once each way, into buffers allocated once), against the same
 * two copies into fresh buffers (what an encoder that returns new wire bytes
 * and a decoder that returns new weights must at least do: allocate, and let
 * the GC reclaim, two buffers of the weights' size), and against
 * JSON.stringify / JSON.parse.
 */
import { createCodec, decodeWeights, encodeWeights } from '../../shared/codec/index.js';
import type { WeightPrecision } from '../../shared/codec/index.js';
import type { BenchRow } from '../lib/common.js';
import { fillRandom, fmt, log, MB, now, ratio, runSection, size } from '../lib/common.js';

const PARAMS = size(1_000_000, 50_000);
const REPEATS = size(12, 2);

/** Best-of-`repeats` time of `fn` in ms (one untimed warm-up run first). */
function best(repeats: number, fn: () => void): number {
  fn();
  let min = Infinity;
  for (let i = 0; i < repeats; i++) {
    const started = now();
    fn();
    min = Math.min(min, now() - started);
  }
  return min;
}

async function main(): Promise<BenchRow[]> {
  const weights = fillRandom(new Float32Array(PARAMS), 7, 0.1);
  const bytes = PARAMS * 4;
  const mbps = (ms: number): number => bytes / MB / (ms / 1000);
  const codec = createCodec();
  const segments = [PARAMS - 1000, 1000];

  // The limit: copy the bytes out and back in (what encode + decode must at least do).
  const a = new Float32Array(PARAMS);
  const b = new Float32Array(PARAMS);
  const copyMs = best(REPEATS * 4, () => {
    a.set(weights);
    b.set(a);
  });
  const freshMs = best(REPEATS * 2, () => {
    const wire = weights.slice();
    if (wire.slice().length !== PARAMS) throw new Error('copy lost values');
  });
  const jsonMs = best(Math.max(1, Math.floor(REPEATS / 4)), () => {
    const text = JSON.stringify({ length: PARAMS, data: Array.from(weights) });
    const back = Float32Array.from((JSON.parse(text) as { data: number[] }).data);
    if (back.length !== PARAMS) throw new Error('JSON round trip lost values');
  });
  log(
    `codec: copy ${fmt(copyMs, 2)} ms, fresh copies ${fmt(freshMs, 2)} ms, JSON ${fmt(jsonMs, 1)} ms for ${PARAMS} params`,
  );

  const rows: BenchRow[] = [];
  for (const precision of ['float32', 'float16', 'int8'] as WeightPrecision[]) {
    let wireBytes = 0;
    const ms = best(REPEATS, () => {
      const wire = codec.encode({
        delta: encodeWeights(weights, precision, precision === 'int8' ? { segments } : {}),
      });
      wireBytes = wire.byteLength;
      const back = decodeWeights((codec.decode(wire) as { delta: unknown }).delta, PARAMS);
      if (back.length !== PARAMS) throw new Error('decode lost values');
    });
    rows.push({
      id: `codec.${precision}`,
      item: `Codec ${fmt(PARAMS / 1e6, 2)}M params ${precision}: encode+decode (msgpackr)`,
      value: `${fmt(mbps(ms))} MB/s (${fmt(ms, 2)} ms)`,
      reference: `Float32Array.set ×2 ${fmt(mbps(copyMs))} MB/s; ×2 into fresh buffers ${fmt(mbps(freshMs))} MB/s; JSON ${fmt(mbps(jsonMs))} MB/s`,
      ratio: `${ratio(mbps(ms), mbps(copyMs), 3)} of copy; ${ratio(mbps(ms), mbps(freshMs), 2)} of fresh copies; ${ratio(mbps(ms), mbps(jsonMs), 1)} JSON`,
      note: `${fmt(wireBytes)} bytes on the wire; MB/s of float32 weights${precision === 'float32' ? '; target ≥ 0.5× of copy' : ''}`,
      ...(precision === 'float32'
        ? {
            target: {
              achieved: copyMs / ms,
              goal: 0.5,
              what: 'float32 weights encode+decode / two Float32Array.set copies',
              limit:
                "the API returns new buffers: a round trip copies the weights four times into fresh buffers (the EncodedWeights snapshot the server reuses for every client, msgpackr's output buffer, msgpackr's aligned typed-array copy on decode, the decoded weights the caller owns), and each fresh 4 MB buffer costs allocation, page faults and GC work (~0.2-0.28 ms measured, against ~0.07 ms for a set into a reused buffer), so two fresh copies alone already exceed the goal's budget of twice the reused copies; the two NaN/Infinity scans (sender and receiver) run in WebAssembly SIMD at ~0.1 ms each, a block-wise copy into wasm memory included",
            },
          }
        : {}),
    });
  }
  rows.push({
    id: 'codec.json',
    item: `Codec ${fmt(PARAMS / 1e6, 2)}M params: JSON.stringify + JSON.parse`,
    value: `${fmt(mbps(jsonMs), 1)} MB/s (${fmt(jsonMs, 1)} ms)`,
    reference: `Float32Array.set ×2 ${fmt(mbps(copyMs))} MB/s (${fmt(copyMs, 2)} ms)`,
    ratio: ratio(mbps(jsonMs), mbps(copyMs), 4),
  });
  return rows;
}

runSection('codec', main);
