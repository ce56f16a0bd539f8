import assert from 'node:assert/strict';
import { CodecError } from '../../../../shared/errors.js';
import type { CodecErrorCode } from '../../../../shared/errors.js';

/** Asserts `fn` throws a CodecError with exactly `code`. */
export function expectCodecError(fn: () => unknown, code: CodecErrorCode, label: string): void {
  assert.throws(
    fn,
    (e: unknown) => {
      assert.ok(e instanceof CodecError, `${label}: expected a CodecError, got ${String(e)}`);
      assert.equal(e.code, code, `${label}: got code ${e.code} (${e.message}), want ${code}`);
      return true;
    },
    label,
  );
}

/** A tiny seeded PRNG (mulberry32). */
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

/** MessagePack bytes built by hand. */
export const mp = {
  /** fixstr / str8 of ASCII text. */
  str(text: string): number[] {
    const bytes = [...text].map((ch) => ch.charCodeAt(0));
    return bytes.length < 32 ? [0xa0 | bytes.length, ...bytes] : [0xd9, bytes.length, ...bytes];
  },
  u32(n: number): number[] {
    return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  },
};
