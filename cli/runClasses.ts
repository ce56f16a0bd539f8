/**
 * An image-folder client's labels are the indices of its own sorted class folders; a folder that
 * lacks one of the run's classes (non-IID data) would shift every later label. `fedistill join`
 * asks the coordinator for the run's class names (`classNames` in GET /api/status, where its data
 * name them) and relabels its data to the run's indices; a class folder the run does not name is a
 * data mismatch (the client abstains).
 */
import type { LabeledData } from '../shared/data/types.js';

/** The run's class names from GET /api/status; undefined when it names none or cannot say. */
export async function fetchRunClassNames(url: URL): Promise<string[] | undefined> {
  try {
    const response = await fetch(new URL('/api/status', url), {
      signal: AbortSignal.timeout(5_000),
    });
    if (!response.ok) {
      await response.body?.cancel();
      return undefined;
    }
    const status = (await response.json()) as { classNames?: unknown };
    const names = status.classNames;
    return Array.isArray(names) &&
      names.length > 0 &&
      names.every((n): n is string => typeof n === 'string')
      ? names
      : undefined;
  } catch {
    // An older coordinator, or one that is not answering: the folder's own names stand.
    return undefined;
  }
}

/**
 * Relabels `data` (labelled by `local` names' indices) in place to `run`'s indices. Returns the
 * local names the run does not have; then `data` is left as it was.
 */
export function relabelToRun(
  data: LabeledData,
  local: readonly string[],
  run: readonly string[],
): string[] {
  const toRun = local.map((name) => run.indexOf(name));
  const unknown = local.filter((_, i) => toRun[i]! < 0);
  if (unknown.length > 0) return unknown;
  for (let i = 0; i < data.count; i++) data.y[i] = toRun[data.y[i]!]!;
  return [];
}
