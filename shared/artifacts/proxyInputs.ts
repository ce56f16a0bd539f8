/**
 * The public proxy set's inputs as one msgpack-able artifact. Inputs that all
 * lie within {@link UNORM8_TOLERANCE} of a multiple of 1/255 in [0, 1] (image
 * pixels; the `mnist` package stores them rounded to 3 decimals) travel as one
 * byte each: 4× fewer bytes than float32 for the largest thing a client
 * downloads. The coordinator labels the decoded inputs, so the teacher's soft
 * labels describe exactly what clients train on.
 */
import { z } from 'zod';
import { DatasetError } from '../errors.js';

export const PROXY_INPUTS_FORMAT = 'fedistill.proxy-inputs/1';

export type ProxyInputEncoding = 'unorm8' | 'float32';

export interface ProxyInputsArtifact {
  readonly format: typeof PROXY_INPUTS_FORMAT;
  readonly count: number;
  readonly featureShape: readonly number[];
  readonly encoding: ProxyInputEncoding;
  readonly data: Uint8Array | Float32Array;
}

const artifactSchema = z.strictObject({
  format: z.literal(PROXY_INPUTS_FORMAT),
  count: z.number().int().nonnegative(),
  featureShape: z.array(z.number().int().positive()).min(1).max(8),
  encoding: z.enum(['unorm8', 'float32']),
  data: z.union([z.instanceof(Uint8Array), z.instanceof(Float32Array)]),
});

/** Largest distance from a 1/255 level for which inputs are sent as bytes. */
export const UNORM8_TOLERANCE = 1e-3;

function isUnorm8(x: Float32Array): boolean {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (!(v >= 0 && v <= 1) || Math.abs(v - Math.round(v * 255) / 255) > UNORM8_TOLERANCE)
      return false;
  }
  return true;
}

/** `x` is row-major `[count, ...featureShape]`. */
export function encodeProxyInputs(
  x: Float32Array,
  count: number,
  featureShape: readonly number[],
): ProxyInputsArtifact {
  const featureSize = featureShape.reduce((a, b) => a * b, 1);
  if (x.length !== count * featureSize) {
    throw new DatasetError(
      `proxy inputs have ${x.length} values, expected ${count} × [${featureShape.join(', ')}] = ${count * featureSize}`,
    );
  }
  if (isUnorm8(x)) {
    const data = new Uint8Array(x.length);
    for (let i = 0; i < x.length; i++) data[i] = Math.round(x[i]! * 255);
    return {
      format: PROXY_INPUTS_FORMAT,
      count,
      featureShape: [...featureShape],
      encoding: 'unorm8',
      data,
    };
  }
  return {
    format: PROXY_INPUTS_FORMAT,
    count,
    featureShape: [...featureShape],
    encoding: 'float32',
    data: Float32Array.from(x),
  };
}

/** Validates an artifact from the network and returns row-major float32 inputs. */
export function decodeProxyInputs(value: unknown): {
  x: Float32Array;
  count: number;
  featureShape: number[];
} {
  const parsed = artifactSchema.safeParse(value);
  if (!parsed.success) {
    throw new DatasetError(`proxy inputs artifact is malformed: ${z.prettifyError(parsed.error)}`);
  }
  const { count, featureShape, encoding, data } = parsed.data;
  const expected = count * featureShape.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new DatasetError(
      `proxy inputs artifact holds ${data.length} values, its header says ${count} × [${featureShape.join(', ')}] = ${expected}`,
    );
  }
  if (encoding === 'unorm8') {
    if (!(data instanceof Uint8Array)) throw new DatasetError('unorm8 proxy inputs must be bytes');
    const x = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) x[i] = data[i]! / 255;
    return { x, count, featureShape };
  }
  if (!(data instanceof Float32Array))
    throw new DatasetError('float32 proxy inputs must be a Float32Array');
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) throw new DatasetError(`proxy input ${i} is not finite`);
  }
  return { x: Float32Array.from(data), count, featureShape };
}
