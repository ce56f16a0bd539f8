/**
 * Which ONNX Runtime execution provider runs an ONNX teacher. onnxruntime-node
 * bundles the CPU provider; the CUDA provider's libraries are a separate
 * download (from NuGet) that this project's .npmrc skips at install, so CUDA
 * is tried only when its library is present, and every reason a provider was
 * passed over is kept for the log line.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-node';

/** `auto` tries CUDA, then CPU; a named provider is used alone or fails. */
export type OnnxProvider = 'auto' | 'cuda' | 'cpu';

export const ONNX_PROVIDERS: readonly OnnxProvider[] = ['auto', 'cuda', 'cpu'];

export interface OnnxProviderAttempt {
  provider: 'cuda' | 'cpu';
  /** Why it was passed over; absent for the one that runs. */
  error?: string;
}

export type OrtModule = typeof Ort;

/** The command that installs the CUDA provider's libraries into node_modules. */
export const CUDA_INSTALL_HINT = 'ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node';

/** Loads onnxruntime-node, or explains why it cannot load (its native binding is platform-specific). */
export async function importOnnxRuntime(): Promise<OrtModule> {
  try {
    return await import('onnxruntime-node');
  } catch (error) {
    throw new Error(
      `onnxruntime-node does not load here (${(error as Error).message.split('\n')[0]}); ONNX teachers need it`,
      { cause: error },
    );
  }
}

/** Folder of onnxruntime-node's native libraries for this platform. */
export function onnxBinaryDir(): string {
  const main = createRequire(import.meta.url).resolve('onnxruntime-node');
  // main is <pkg>/dist/index.js; the binaries live in <pkg>/bin/napi-v6/<platform>/<arch>.
  return join(dirname(dirname(main)), 'bin', 'napi-v6', platform(), arch());
}

/** Why the CUDA provider cannot be tried here, or undefined when its library is installed. */
export function cudaProviderMissing(): string | undefined {
  if (platform() !== 'linux' && platform() !== 'win32')
    return `no CUDA provider for ${platform()}/${arch()}`;
  const library =
    platform() === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  const path = join(onnxBinaryDir(), library);
  return existsSync(path)
    ? undefined
    : `${library} is not installed (install it: ${CUDA_INSTALL_HINT})`;
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0] ?? message;
}

/**
 * Creates an inference session on the first provider that works, in order
 * CUDA then CPU for `auto`. ONNX Runtime places operators CUDA lacks on the
 * CPU by itself; what is chosen here is whether CUDA runs at all.
 */
export async function createOnnxSession(
  ort: OrtModule,
  bytes: Uint8Array,
  options: {
    provider: OnnxProvider;
    path: string;
    /** Intra-op threads; defaults to ONNX Runtime's own choice (one per physical core). */
    threads?: number;
  },
): Promise<{
  session: InferenceSession;
  provider: 'cuda' | 'cpu';
  tried: OnnxProviderAttempt[];
}> {
  const queue: ('cuda' | 'cpu')[] =
    options.provider === 'auto' ? ['cuda', 'cpu'] : [options.provider];
  const tried: OnnxProviderAttempt[] = [];
  for (const provider of queue) {
    if (provider === 'cuda') {
      const missing = cudaProviderMissing();
      if (missing) {
        tried.push({ provider, error: missing });
        continue;
      }
    }
    try {
      const session = await ort.InferenceSession.create(bytes, {
        executionProviders: [provider],
        ...(options.threads !== undefined ? { intraOpNumThreads: options.threads } : {}),
        // Warnings (e.g. about an added output's missing type) would go to stderr unasked.
        logSeverityLevel: 3,
      });
      tried.push({ provider });
      return { session, provider, tried };
    } catch (error) {
      tried.push({ provider, error: firstLine(error) });
    }
  }
  throw new Error(
    `ONNX Runtime cannot load ${options.path} (${tried.map((t) => `${t.provider}: ${t.error}`).join('; ')})`,
  );
}

/** One log line: the provider that runs, and why any before it did not. */
export function describeProviderChoice(
  provider: string,
  tried: readonly OnnxProviderAttempt[],
): string {
  const failures = tried.filter((t) => t.error !== undefined);
  return `onnx runtime: ${provider} provider${failures.length ? ` (tried ${failures.map((t) => `${t.provider}: ${t.error}`).join('; ')})` : ''}`;
}
