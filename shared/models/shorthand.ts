/**
 * The short names of student and teacher architectures that the CLI and
 * config files accept: `mlp:H1,H2,…` (a multilayer perceptron with those
 * hidden widths) and `cnn` (the small CNN), sized to the data's input shape
 * and class count. One parser, so a shorthand means the same everywhere.
 */
import type { ModelSpec } from './spec.js';
import { cnnSpec, mlpSpec } from './spec.js';

/** Matches exactly the shorthands `specFromShorthand` understands. */
export const SPEC_SHORTHAND = /^(mlp:\d+(,\d+)*|cnn)$/;

/**
 * The spec a shorthand names, for data of `inputShape` and `numClasses`; undefined when
 * `value` is not a shorthand (a file path or JSON, for the caller to read). A CNN takes the
 * data's image shape (`[h, w, channels]`; a flat or 2-D input is read as one channel).
 */
export function specFromShorthand(
  value: string,
  inputShape: readonly number[],
  numClasses: number,
): ModelSpec | undefined {
  if (!SPEC_SHORTHAND.test(value)) return undefined;
  if (value === 'cnn') return cnnSpec({ numClasses, inputShape: imageShapeOf(inputShape) });
  const hidden = value.slice('mlp:'.length).split(',').map(Number);
  return mlpSpec(
    inputShape.reduce((a, b) => a * b, 1),
    hidden,
    numClasses,
  );
}

/** `[h, w, c]` for a CNN: 2-D inputs gain one channel; a flat square input becomes `[s, s, 1]`. */
function imageShapeOf(inputShape: readonly number[]): number[] {
  if (inputShape.length === 3) return [...inputShape];
  if (inputShape.length === 2) return [inputShape[0]!, inputShape[1]!, 1];
  const size = inputShape[0] ?? 0;
  const side = Math.round(Math.sqrt(size));
  if (inputShape.length === 1 && side * side === size) return [side, side, 1];
  throw new RangeError(
    `cnn needs image data ([h, w] or [h, w, channels], or a flat square); the data has shape [${inputShape.join(', ')}]`,
  );
}
