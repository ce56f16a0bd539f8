/**
 * scripts/gpu-check.ts runs here (no GPU) and says so: the CPU rows load and
 * are their own reference, each GPU row is reported as not loading with the
 * reason, and a backend that loads reports a throughput.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cudaProviderMissing } from '../../../server/teachers/index.js';

const SCRIPT = fileURLToPath(new URL('../../../scripts/gpu-check.ts', import.meta.url));

interface Row {
  runtime: string;
  backend: string;
  loaded: boolean;
  note: string;
  samplesPerSecond?: number;
  maxAbsDiffFromCpu?: number;
}

test('gpu-check reports which backends load, their throughput and agreement, and GPU as unavailable here', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-gpu-check-test-'));
  try {
    const json = join(dir, 'report.json');
    const run = spawnSync(
      process.execPath,
      [
        '--import',
        import.meta.resolve('tsx'),
        SCRIPT,
        '--samples',
        '64',
        '--repeats',
        '1',
        '--json',
        json,
      ],
      { encoding: 'utf8', timeout: 240_000 },
    );
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^\| runtime \| backend \| teacher \| loads \| samples\/s \|/);
    const report = JSON.parse(readFileSync(json, 'utf8')) as {
      rows: Row[];
      gpuAvailable: boolean;
      samples: number;
    };
    assert.equal(report.samples, 64);
    const row = (runtime: string, backend: string) => {
      const found = report.rows.find((r) => r.runtime === runtime && r.backend === backend);
      assert.ok(found, `${runtime} ${backend} row`);
      return found;
    };
    for (const reference of [row('tfjs', 'wasm'), row('onnxruntime', 'cpu')]) {
      assert.equal(reference.loaded, true, reference.note);
      assert.ok(reference.samplesPerSecond! > 0);
      assert.equal(reference.maxAbsDiffFromCpu, 0);
    }
    const cuda = row('onnxruntime', 'cuda');
    const missing = cudaProviderMissing();
    if (missing !== undefined) {
      assert.equal(cuda.loaded, false);
      assert.ok(cuda.note.includes(missing), cuda.note);
    } else if (cuda.loaded) {
      // A GPU machine: the CUDA soft labels must agree with the CPU ones.
      assert.ok(cuda.maxAbsDiffFromCpu! < 1e-3, `cuda vs cpu ${cuda.maxAbsDiffFromCpu}`);
    }
    const gpu = row('tfjs', '@tensorflow/tfjs-node-gpu');
    if (!gpu.loaded) assert.match(gpu.note, /could not start|child failed/);
    assert.equal(report.gpuAvailable, cuda.loaded || gpu.loaded);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
