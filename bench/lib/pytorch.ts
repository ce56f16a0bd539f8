/**
 * Runs bench/pytorch/torch_bench.py, the PyTorch side of the benchmark, so
 * PyTorch figures are measured in the same run as fedistill's, never quoted.
 *
 * The interpreter is $FEDISTILL_BENCH_PYTHON, else Debian's /usr/bin/python3
 * (where `apt-get install python3-torch` puts torch), else `python3` on PATH.
 * When it cannot import torch, every PyTorch row says "not installed".
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { fmt, log } from './common.js';

const SCRIPT = fileURLToPath(new URL('../pytorch/torch_bench.py', import.meta.url));

/** What a PyTorch row shows when torch cannot be imported. */
export const NOT_INSTALLED = 'not installed';

export function pythonPath(): string {
  const chosen = process.env.FEDISTILL_BENCH_PYTHON;
  if (chosen !== undefined && chosen !== '') return chosen;
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

export interface TorchProbe {
  python: string;
  torch: string | null;
  numpy: string | null;
  blas?: string;
}

export type TorchTask =
  | { kind: 'probe' }
  | { kind: 'train-mlp'; sizes: number[]; batch: number; seconds: number }
  | {
      kind: 'train-cnn';
      filters: number[];
      hidden: number[];
      classes: number;
      kernel: number;
      batch: number;
      seconds: number;
    }
  | { kind: 'sgemm'; m: number; k: number; n: number; seconds: number }
  | {
      kind: 'infer-mlp';
      sizes: number[];
      batch: number;
      count: number;
      temperature: number;
      seconds: number;
    }
  | { kind: 'export-onnx-mlp'; sizes: number[]; path: string };

export type TorchResult = Record<string, unknown> & { error?: string };

/**
 * Runs `tasks` in one Python process with `threads` intra-op threads (the BLAS
 * and OpenMP pools are sized by environment before torch loads). Rejects when
 * the interpreter cannot start or prints no answer.
 */
export function runTorch(
  tasks: readonly TorchTask[],
  threads: number,
  timeoutMs = 300_000,
): Promise<TorchResult[]> {
  const threadEnv = String(threads);
  return new Promise((resolve, reject) => {
    execFile(
      pythonPath(),
      [SCRIPT, JSON.stringify({ threads, tasks })],
      {
        timeout: timeoutMs,
        maxBuffer: 1 << 20,
        env: {
          ...process.env,
          OMP_NUM_THREADS: threadEnv,
          OPENBLAS_NUM_THREADS: threadEnv,
          MKL_NUM_THREADS: threadEnv,
        },
      },
      (error, stdout, stderr) => {
        const line = stdout.trim().split('\n').pop() ?? '';
        try {
          const parsed = JSON.parse(line) as { results: TorchResult[] };
          resolve(parsed.results);
        } catch {
          reject(
            new Error(
              `torch_bench.py gave no answer (${error?.message ?? 'no output'}): ${stderr.slice(-400)}`,
            ),
          );
        }
      },
    );
  });
}

/** Versions of Python, torch and numpy (null when missing); undefined when Python itself cannot run. */
export async function probeTorch(): Promise<TorchProbe | undefined> {
  try {
    const [probe] = await runTorch([{ kind: 'probe' }], 1, 60_000);
    return probe as unknown as TorchProbe;
  } catch (error) {
    log(`pytorch: ${pythonPath()} cannot run: ${(error as Error).message}`);
    return undefined;
  }
}

/** Thread counts to measure PyTorch at: 1 and every core this machine reports (once if that is 1). */
export function torchThreadCounts(): number[] {
  const all = availableParallelism();
  return all > 1 ? [1, all] : [1];
}

/** A numeric field of a task result, or undefined when the task failed or lacks it. */
export function figure(result: TorchResult | undefined, field: string): number | undefined {
  const value = result?.[field];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** "PyTorch 1.13.0 (reference BLAS)" style label of what was measured. */
export function torchLabel(probe: TorchProbe): string {
  return `PyTorch ${probe.torch ?? '?'}${probe.blas ? `, ${probe.blas}` : ''}`;
}

/** The measured cell of a PyTorch row: the figure, the task's error, or "not installed". */
export function torchCell(
  probe: TorchProbe | undefined,
  result: TorchResult | undefined,
  field: string,
  unit: string,
  digits = 0,
): string {
  if (!probe?.torch) return NOT_INSTALLED;
  const value = figure(result, field);
  if (value === undefined) return `failed: ${result?.error ?? 'no result'}`;
  return `${fmt(value, digits)} ${unit}`;
}
