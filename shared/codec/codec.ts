/**
 * The one MessagePack configuration every fedistill peer speaks.
 *
 * msgpackr with `moreTypes: true` writes typed arrays with their element type
 * (extension "t"), so a Float32Array arrives as a Float32Array, not as bytes;
 * `useRecords: false` keeps the output plain MessagePack (no msgpackr record
 * extension) so a client in another language can join; structured clone is
 * off, so no reference/cycle extensions are produced or accepted.
 *
 * Decoding treats bytes as hostile: limits are enforced by a pre-scan
 * (see scan.ts) before msgpackr allocates anything, typed arrays and binary
 * values are copied out of the input (never views into a reused socket
 * buffer, always aligned), and every failure is a CodecError.
 */
import { Packr, Unpackr } from 'msgpackr';
import { CodecError } from '../errors.js';
import type { DecodeLimits } from './limits.js';
import { resolveDecodeLimits } from './limits.js';
import { scanMsgpack } from './scan.js';

export interface Codec {
  /**
   * Encodes a value. The result is a view into msgpackr's output buffer,
   * valid until garbage-collected (later encodes never overwrite it).
   * @throws CodecError 'too-large' if the result would exceed this codec's own
   *   maxBytes (a peer with the same limits would refuse it), 'wrong-type' if
   *   msgpackr cannot encode the value.
   */
  encode(value: unknown): Uint8Array;
  /**
   * Decodes exactly one value from `bytes` (a Uint8Array, including a Node
   * Buffer, or an ArrayBuffer).
   * @throws CodecError with code 'too-large' | 'too-deep' | 'malformed' |
   *   'wrong-type' | 'forbidden-key'.
   */
  decode(bytes: Uint8Array | ArrayBuffer): unknown;
  /** The limits this codec decodes with (defaults filled in). */
  readonly limits: Readonly<DecodeLimits>;
}

/** Packr/Unpackr options shared by both directions. */
const MSGPACKR_OPTIONS = {
  moreTypes: true,
  useRecords: false,
  structuredClone: false,
  mapsAsObjects: true,
  // Bins become fresh Uint8Arrays, never views into the input.
  copyBuffers: true,
  // 64-bit integers decode to numbers rather than BigInts, which no schema expects.
  int64AsType: 'number',
} as const;

/** Creates a codec; each has its own msgpackr instances (cheap). */
export function createCodec(limits?: Readonly<Partial<DecodeLimits>>): Codec {
  const resolved = resolveDecodeLimits(limits);
  const packr = new Packr(MSGPACKR_OPTIONS);
  const unpackr = new Unpackr(MSGPACKR_OPTIONS);
  return {
    limits: resolved,
    encode(value: unknown): Uint8Array {
      let out: Uint8Array;
      try {
        out = packr.pack(value);
      } catch (error) {
        throw new CodecError(`cannot encode value: ${errorMessage(error)}`, 'wrong-type');
      }
      if (out.byteLength > resolved.maxBytes) {
        throw new CodecError(
          `encoded message of ${out.byteLength} bytes exceeds maxBytes ${resolved.maxBytes}`,
          'too-large',
        );
      }
      // A plain Uint8Array view (not a Node Buffer), so callers see one type everywhere.
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    },
    decode(bytes: Uint8Array | ArrayBuffer): unknown {
      const view = toPlainBytes(bytes);
      scanMsgpack(view, resolved);
      try {
        return unpackr.unpack(view);
      } catch (error) {
        throw new CodecError(`malformed MessagePack: ${errorMessage(error)}`, 'malformed');
      }
    },
  };
}

/**
 * A plain Uint8Array over the same bytes: decoding from a plain view keeps
 * msgpackr's bin results plain Uint8Arrays even when the input is a Buffer.
 */
export function toPlainBytes(bytes: unknown): Uint8Array {
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  if (ArrayBuffer.isView(bytes))
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw new CodecError(
    `expected binary data (Uint8Array or ArrayBuffer), got ${describe(bytes)}`,
    'wrong-type',
  );
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
