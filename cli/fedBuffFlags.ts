/**
 * fedbuff's settings on `serve`'s command line: `--buffer-size`, `--max-staleness`,
 * `--server-lr` and `--staleness`, the weighting s(τ) as `polynomial[:a]`, `hinge[:a,b]` or
 * `constant`. They override the config file's `fedbuff` field by field; the config schema
 * (server/strategies/staleness.ts) checks the result.
 */
import { InvalidArgumentError } from 'commander';

/** `--staleness polynomial:0.5` → `{ kind: 'polynomial', exponent: 0.5 }`. */
export function parseStalenessFlag(value: string): Record<string, unknown> {
  const [kind, args, extra] = value.trim().split(':');
  const numbers = (args ?? '')
    .split(',')
    .filter((part) => part !== '')
    .map(Number);
  if (extra !== undefined || numbers.some((n) => !Number.isFinite(n)))
    throw new InvalidArgumentError(`"${value}": expected polynomial[:a], hinge[:a,b] or constant`);
  if (kind === 'polynomial' && numbers.length <= 1)
    return { kind, ...(numbers.length === 1 ? { exponent: numbers[0] } : {}) };
  if (kind === 'hinge' && (numbers.length === 0 || numbers.length === 2))
    return { kind, ...(numbers.length === 2 ? { slope: numbers[0], after: numbers[1] } : {}) };
  if (kind === 'constant' && numbers.length === 0) return { kind };
  throw new InvalidArgumentError(`"${value}": expected polynomial[:a], hinge[:a,b] or constant`);
}

/** The config's `fedbuff` with the flags given laid over the file's; undefined when neither has any. */
export function fedBuffFromFlags(
  file: unknown,
  flags: Record<string, unknown>,
): Record<string, unknown> | undefined {
  const fromFile =
    typeof file === 'object' && file !== null ? (file as Record<string, unknown>) : {};
  const pick = (key: string, value: unknown) => (value !== undefined ? { [key]: value } : {});
  const merged = {
    ...fromFile,
    ...pick('bufferSize', flags.bufferSize),
    ...pick('maxStaleness', flags.maxStaleness),
    ...pick('serverLearningRate', flags.serverLr),
    ...pick('staleness', flags.staleness),
  };
  return Object.keys(merged).length > 0 ? merged : undefined;
}
