/**
 * tfjs backends for Node, fastest first: native TensorFlow (GPU, then CPU)
 * when @tensorflow/tfjs-node(-gpu) is installed — an optional dependency whose
 * install downloads libtensorflow and so is often absent — then the wasm
 * backend (always installed; one thread per process in Node), then pure-JS cpu.
 */
import type { BackendAttempt, BackendCandidate, BackendChoice } from '../shared/backend/index.js';
import { selectBackend } from '../shared/backend/index.js';
import type { Log } from './logger.js';

/**
 * Imports an optional package by a computed specifier, so TypeScript does not
 * require it to be installed and bundlers leave it alone.
 */
async function importOptional(specifier: string): Promise<void> {
  await import(specifier);
}

/** Candidates in preference order: tfjs-node-gpu, tfjs-node (both register 'tensorflow'), wasm, cpu. */
export function nodeBackendCandidates(): BackendCandidate[] {
  return [
    {
      name: 'tensorflow',
      label: '@tensorflow/tfjs-node-gpu',
      load: () => importOptional('@tensorflow/tfjs-node-gpu'),
    },
    {
      name: 'tensorflow',
      label: '@tensorflow/tfjs-node',
      load: () => importOptional('@tensorflow/tfjs-node'),
    },
    {
      name: 'wasm',
      load: async () => {
        await import('@tensorflow/tfjs-backend-wasm');
      },
    },
    // The cpu backend ships inside @tensorflow/tfjs itself.
    { name: 'cpu', load: async () => {} },
  ];
}

export interface SelectNodeBackendOptions {
  /** Use only this backend ('tensorflow', 'wasm', 'cpu' or a package label); fail rather than fall back. Defaults to none. */
  force?: string;
  /** Gets one info line naming the backend that runs, and a debug line per candidate passed over. Defaults to none. */
  log?: Log;
}

/** Why a candidate was passed over, in words that do not read like a failure when it is simply not installed. */
export function describeSkipped(attempt: BackendAttempt): string {
  const missing = /Cannot find (module|package)/.test(attempt.error ?? '');
  return missing
    ? `${attempt.label} not used: not installed (an optional dependency): ${attempt.error}`
    : `${attempt.label} not used: ${attempt.error}`;
}

/**
 * selectBackend over nodeBackendCandidates(). Logs "tfjs backend: wasm" at info; the
 * candidates before it (native TensorFlow is often not installed) only at debug.
 */
export async function selectNodeBackend(
  options: Readonly<SelectNodeBackendOptions> = {},
): Promise<BackendChoice> {
  const choice = await selectBackend(nodeBackendCandidates(), {
    ...(options.force !== undefined ? { force: options.force } : {}),
  });
  const log = options.log;
  if (log) {
    for (const attempt of choice.tried)
      if (attempt.error !== undefined) log(describeSkipped(attempt), 'debug');
    const chosen = choice.tried.at(-1);
    const detail =
      options.force !== undefined
        ? ' (forced)'
        : chosen && chosen.label !== chosen.name
          ? ` (${chosen.label})`
          : '';
    log(`tfjs backend: ${choice.name}${detail}`);
  }
  return choice;
}
