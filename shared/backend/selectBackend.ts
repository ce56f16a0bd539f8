/**
 * Picks the fastest tfjs backend that actually works here. Native and GPU
 * backends are optional installs that fail in many places (tfjs-node's install
 * downloads libtensorflow; a browser may lack WebGPU), so candidates are tried
 * in order and every failure is kept for the log line and diagnostics.
 */
import * as tf from '@tensorflow/tfjs';

export interface BackendCandidate {
  /** The backend's registered tfjs name ('tensorflow', 'webgpu', 'webgl', 'wasm', 'cpu'). */
  name: string;
  /** Imports and registers the backend (e.g. a dynamic import of its package). */
  load: () => Promise<void>;
  /** What to call it in logs when several candidates share a name (e.g. '@tensorflow/tfjs-node-gpu'). Defaults to name. */
  label?: string;
}

export interface BackendAttempt {
  name: string;
  label: string;
  /** Why it was skipped; absent for the chosen backend. */
  error?: string;
}

export interface BackendChoice {
  /** The active backend (`tf.getBackend()`). */
  name: string;
  /** Every candidate tried, in order, the chosen one last. */
  tried: BackendAttempt[];
}

export interface SelectBackendOptions {
  /** Use only the candidate with this name (or label); fail rather than fall back. Defaults to none (try all in order). */
  force: string;
  /** Receives one line naming the chosen backend and the failures before it. Defaults to no logging. */
  log: (message: string) => void;
}

function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // Module-not-found messages list every path Node tried; the first line says it.
  return message.split('\n')[0] ?? message;
}

/**
 * Tries each candidate in order (or only the forced one): load it,
 * `tf.setBackend(name)`, `await tf.ready()`. Returns the first that works and
 * logs e.g. "tfjs backend: wasm (tried tensorflow: Cannot find module ...)".
 *
 * @throws Error when `force` names no candidate, when the forced candidate
 *   fails, or when every candidate fails (the message lists each error).
 */
export async function selectBackend(
  candidates: readonly BackendCandidate[],
  options: Readonly<Partial<SelectBackendOptions>> = {},
): Promise<BackendChoice> {
  const { force, log } = options;
  let queue = candidates;
  if (force !== undefined) {
    queue = candidates.filter((c) => c.name === force || c.label === force);
    if (queue.length === 0) {
      const known = [...new Set(candidates.flatMap((c) => [c.name, c.label ?? c.name]))];
      throw new Error(`unknown tfjs backend '${force}'; choose one of: ${known.join(', ')}`);
    }
  }
  const tried: BackendAttempt[] = [];
  for (const candidate of queue) {
    const label = candidate.label ?? candidate.name;
    try {
      await candidate.load();
      // setBackend throws for an unregistered name and resolves false when the
      // backend's initialisation fails.
      if (!(await tf.setBackend(candidate.name))) {
        throw new Error(`tf.setBackend('${candidate.name}') failed to initialise`);
      }
      await tf.ready();
      tried.push({ name: candidate.name, label });
      const failures = tried.filter((t) => t.error !== undefined);
      const note = failures.length
        ? ` (tried ${failures.map((t) => `${t.label}: ${t.error}`).join('; ')})`
        : '';
      log?.(`tfjs backend: ${tf.getBackend()}${note}`);
      return { name: tf.getBackend(), tried };
    } catch (error) {
      tried.push({ name: candidate.name, label, error: describe(error) });
    }
  }
  const detail = tried.map((t) => `${t.label}: ${t.error}`).join('; ');
  throw new Error(
    force === undefined
      ? `no tfjs backend could start (${detail || 'no candidates'})`
      : `tfjs backend '${force}' could not start (${detail})`,
  );
}
