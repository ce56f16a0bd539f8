/**
 * `--distillation`: the terms of the clients' local loss on the command line.
 * A comma-separated list of term names, each with an optional weight after `=`
 * (`response,hint=0.5,rkd-distance=25`), or a JSON array of term objects for
 * options beyond the weight (`[{"name":"hint","weight":1,"pooling":"average"}]`).
 * The result is checked by the config schema (shared/losses' registry), which
 * names the term that is wrong.
 */
import { InvalidArgumentError } from 'commander';

export function parseDistillationFlag(value: string): unknown[] {
  const text = value.trim();
  if (text.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (Array.isArray(parsed)) return parsed;
    } catch (error) {
      throw new InvalidArgumentError(`not a JSON array of terms: ${(error as Error).message}`);
    }
    throw new InvalidArgumentError('expected a JSON array of terms');
  }
  return text.split(',').map((part) => {
    const [name, weight, extra] = part.trim().split('=');
    if (!name || extra !== undefined)
      throw new InvalidArgumentError(`"${part}": expected name or name=weight`);
    if (weight === undefined) return { name, weight: 1 };
    const w = Number(weight);
    if (!Number.isFinite(w)) throw new InvalidArgumentError(`"${part}": weight is not a number`);
    return { name, weight: w };
  });
}
