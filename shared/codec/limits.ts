/**
 * Limits applied to every message decoded from a peer. They bound the memory
 * and stack a single message can make us spend before any schema sees it.
 */
export interface DecodeLimits {
  /** Largest message accepted, in bytes, checked before decoding. Defaults to 64 MiB. */
  maxBytes: number;
  /**
   * Deepest nesting of arrays / maps accepted (a top-level array is depth 1).
   * Defaults to 32.
   */
  maxDepth: number;
  /**
   * Most elements in one msgpack array (typed arrays are bounded by maxBytes
   * instead). Defaults to 1,048,576 (2^20).
   */
  maxArrayLength: number;
  /** Most keys in one msgpack map. Defaults to 4096. */
  maxKeys: number;
}

export const DEFAULT_DECODE_LIMITS: Readonly<DecodeLimits> = Object.freeze({
  maxBytes: 64 * 1024 * 1024,
  maxDepth: 32,
  maxArrayLength: 1 << 20,
  maxKeys: 4096,
});

/** Fills in defaults and checks every limit is a positive integer. */
export function resolveDecodeLimits(limits: Readonly<Partial<DecodeLimits>> = {}): DecodeLimits {
  const resolved: DecodeLimits = { ...DEFAULT_DECODE_LIMITS };
  for (const key of Object.keys(DEFAULT_DECODE_LIMITS) as (keyof DecodeLimits)[]) {
    const value = limits[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`decode limit ${key} must be a positive integer, got ${value}`);
    }
    resolved[key] = value;
  }
  return resolved;
}
