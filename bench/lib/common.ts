/**
 * What every benchmark section shares: the quick/full switch, the row type
 * sections report, timing and memory helpers, and how a section hands its rows
 * back to bench/main.ts (a JSON file named by an environment variable).
 */
import { writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** One line of the benchmark table. */
export interface BenchRow {
  /** Stable key (tests check that every expected id is present). */
  id: string;
  /** What was measured, e.g. "MLP 784-800-800-10 b128, fedistill trainLocal (wasm)". */
  item: string;
  /** The figure measured, with its unit. */
  value: string;
  /** What it is compared with (measured in the same run unless the note says otherwise). */
  reference?: string;
  /** value / reference, or whatever ratio the row is about. */
  ratio?: string;
  note?: string;
  /** A performance target this row is judged against (listed under "Targets" in the report). */
  target?: BenchTarget;
}

/** A goal for a measured ratio, with what limits it when it is not met. */
export interface BenchTarget {
  /** The ratio reached (undefined when it could not be measured, e.g. torch absent). */
  achieved: number | undefined;
  goal: number;
  /** What the ratio compares, e.g. "codec float32 encode+decode / two copies". */
  what: string;
  /** What bounds the figure on this platform, stated when the goal is not met. */
  limit: string;
}

/** `--quick` or FEDISTILL_BENCH_QUICK=1: tiny sizes so CI can check the suite works. */
export const QUICK = process.env.FEDISTILL_BENCH_QUICK === '1';

/** Picks the full or the quick size. */
export function size<T>(full: T, quick: T): T {
  return QUICK ? quick : full;
}

/** Milliseconds since an arbitrary origin, sub-millisecond resolution. */
export function now(): number {
  return performance.now();
}

let gcFn: (() => void) | undefined;
/** Full garbage collection (turns --expose-gc on at run time if needed). */
export function gc(): void {
  if (!gcFn) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed) gcFn = exposed;
    else {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    }
  }
  gcFn();
  gcFn();
}

/** Heap used + ArrayBuffers (typed arrays live outside the JS heap) and RSS, in bytes. */
export function memory(): { heapAndBuffers: number; rss: number } {
  const m = process.memoryUsage();
  return { heapAndBuffers: m.heapUsed + m.arrayBuffers, rss: m.rss };
}

/**
 * Memory after full GCs that also shrink the heap (V8's "last resort" flavour:
 * collect all available garbage and give freed pages back), `rounds` of them
 * `settleMs` apart: freed pages leave RSS some time after a collection, so one
 * read at once still counts some of them.
 */
export async function memoryAfterGc(
  rounds = 3,
  settleMs = 1000,
): Promise<{ heapAndBuffers: number; rss: number }> {
  for (let i = 0; i < rounds; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, settleMs));
    gc();
    (globalThis as { gc?: (options: object) => void }).gc?.({
      type: 'major',
      flavor: 'last-resort',
    });
  }
  return memory();
}

export const MB = 1024 * 1024;

export function fmt(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return String(value);
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** "3.41×" style ratio of a / b. */
export function ratio(a: number, b: number, digits = 2): string {
  if (!(b > 0) || !Number.isFinite(a)) return 'n/a';
  return `${fmt(a / b, digits)}×`;
}

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Deterministic pseudo-random floats in [-amplitude, amplitude) (xorshift32), cheap enough to fill 1M values per update. */
export function fillRandom(out: Float32Array, seed: number, amplitude = 0.01): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const k = (2 * amplitude) / 4294967296;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s * k - amplitude;
  }
  return out;
}

/**
 * Runs a section body and writes its rows to $FEDISTILL_BENCH_RESULT (or
 * prints them when run by hand). Exits non-zero on failure.
 */
export function runSection(name: string, body: () => Promise<BenchRow[]>): void {
  const started = now();
  body()
    .then((rows) => {
      const target = process.env.FEDISTILL_BENCH_RESULT;
      if (target) writeFileSync(target, JSON.stringify(rows));
      else console.log(JSON.stringify(rows, null, 2));
      log(`${name}: done in ${fmt((now() - started) / 1000, 1)} s`);
      process.exit(0);
    })
    .catch((error: unknown) => {
      log(
        `${name}: FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
      process.exit(1);
    });
}
