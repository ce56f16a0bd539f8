/**
 * Adding PRG masks into a masked vector, the bulk of secure aggregation's
 * work on both ends. WebCrypto runs each AES-CTR expansion off the JS thread,
 * so the next masks are expanded while the current one is added in.
 */
import { expandMask } from './crypto.js';

/** Adds (sign +1) or subtracts (−1) `mask` into `acc`, mod 2³². */
export function addMask(acc: Uint32Array, mask: Uint32Array, sign: 1 | -1): void {
  if (sign === 1)
    for (let i = 0; i < acc.length; i++) acc[i] = (acc[i] as number) + (mask[i] as number);
  else for (let i = 0; i < acc.length; i++) acc[i] = (acc[i] as number) - (mask[i] as number);
}

/** One mask to add: its seed (or the pending derivation of it) and its sign. */
export interface MaskTerm {
  readonly seed: Uint8Array | Promise<Uint8Array>;
  readonly sign: 1 | -1;
}

/**
 * acc += Σ sign·PRG(seed) mod 2³² over `terms`, with at most `ahead` masks
 * expanded and held at once (memory: `ahead` × acc's bytes). The sum does not
 * depend on the order masks finish in: addition mod 2³² commutes.
 * Rejects with the first failing term's error (a bad seed or derivation).
 */
export async function addMasks(
  acc: Uint32Array,
  terms: readonly MaskTerm[],
  ahead = 2,
): Promise<void> {
  const pending: (Promise<Uint32Array> | undefined)[] = [];
  const start = (i: number): void => {
    const term = terms[i] as MaskTerm;
    const mask = Promise.resolve(term.seed).then((seed) => expandMask(seed, acc.length));
    // Awaited below in order; this only keeps a failure that is never reached from being unhandled.
    mask.catch(() => undefined);
    pending[i] = mask;
  };
  for (let i = 0; i < Math.min(ahead, terms.length); i++) start(i);
  for (let i = 0; i < terms.length; i++) {
    const mask = await (pending[i] as Promise<Uint32Array>);
    pending[i] = undefined;
    if (i + ahead < terms.length) start(i + ahead);
    addMask(acc, mask, (terms[i] as MaskTerm).sign);
  }
}

/** Starts `derive` for every item at once and marks each result handled, so one failure leaves no unhandled rejection behind. */
export function startAll<T, R>(
  items: readonly T[],
  derive: (item: T, index: number) => Promise<R>,
): Promise<R>[] {
  return items.map((item, index) => {
    const result = derive(item, index);
    result.catch(() => undefined);
    return result;
  });
}
