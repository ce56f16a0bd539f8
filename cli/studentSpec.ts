/**
 * Reads a model spec given on the command line: a JSON file, or a shorthand
 * `mlp:H1,H2,...` for a multilayer perceptron or `cnn` for the small CNN, sized to the
 * data's input shape and class count.
 */
import { readFileSync } from 'node:fs';
import type { ModelSpec } from '../shared/models/index.js';
import { parseModelSpec, specFromShorthand } from '../shared/models/index.js';

export function resolveModelSpec(
  value: string,
  inputShape: readonly number[],
  numClasses: number,
): ModelSpec {
  const short = specFromShorthand(value, inputShape, numClasses);
  if (short) return short;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(value, 'utf8'));
  } catch (error) {
    throw new Error(
      `model spec ${value}: not mlp:H1,H2…, cnn, or a readable JSON file (${(error as Error).message})`,
      { cause: error },
    );
  }
  return parseModelSpec(json);
}
