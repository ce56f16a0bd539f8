/**
 * tfjs backends for Node, fastest first: native TensorFlow (GPU, then CPU)
 * when @tensorflow/tfjs-node(-gpu) is installed — an optional dependency whose
 * install downloads libtensorflow and so is often absent — then the wasm
 * backend (always installed; one thread per process in Node), then pure-JS cpu.
 */
import type {
  BackendCandidate,
  BackendChoice,
  SelectBackendOptions,
} from '../shared/backend/index.js';
import { selectBackend } from '../shared/backend/index.js';

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

/** selectBackend over nodeBackendCandidates(). `force` may be 'tensorflow', 'wasm', 'cpu' or a package label. */
export function selectNodeBackend(
  options: Readonly<Partial<SelectBackendOptions>> = {},
): Promise<BackendChoice> {
  return selectBackend(nodeBackendCandidates(), options);
}
