/**
 * The benchmark suite in quick mode (tiny sizes): it must run to the end and
 * print one table holding every row. Benchmarks are not timed tests: nothing
 * here asserts a speed or a wall-clock limit. PyTorch rows must be measured in
 * the run (a figure) when torch imports, and say "not installed" when it does
 * not: never a quoted constant.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ROW_IDS } from '../../bench/lib/sections.js';
import { NOT_INSTALLED, pythonPath } from '../../bench/lib/pytorch.js';

const MAIN = fileURLToPath(new URL('../../bench/main.ts', import.meta.url));

/** Rows whose figure comes from Python (PyTorch, or numpy for the native sgemm ceiling). */
const PYTHON_ROW = /\.pytorch\.|^ceiling\.native-sgemm\./;
/** A measured figure: a number with its unit at the start of the cell. */
const FIGURE = /^\d[\d,]*(\.\d+)? (samples\/s|GFLOP\/s)/;

interface Row {
  key: string;
  measured: string;
  line: string;
}

async function runBench(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ rows: Row[]; stdout: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', MAIN, '--quick', '--no-write', ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr
    .setEncoding('utf8')
    .on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-8000)));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, `bench exited with ${code}:\n${stderr}`);
  const lines = stdout
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| ---'));
  const [header, ...body] = lines;
  assert.match(
    header ?? '',
    /\| key \| benchmark \| measured \| compared with \| ratio \| notes \|/,
  );
  const rows = body.map((line) => {
    const cells = line.split('|');
    return { key: cells[1]?.trim() ?? '', measured: cells[3]?.trim() ?? '', line };
  });
  return { rows, stdout };
}

/** Whether the optional native backend can be imported here (its install needs libtensorflow). */
async function tfjsNodeLoads(): Promise<boolean> {
  const specifier = '@tensorflow/tfjs-node';
  try {
    await import(specifier);
    return true;
  } catch {
    return false;
  }
}

function torchImports(python: string): boolean {
  return spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

test('npm run bench -- --quick prints a table with every row', { timeout: 600_000 }, async () => {
  const { rows, stdout } = await runBench([]);
  assert.deepEqual(
    rows.map((r) => r.key),
    [...ROW_IDS],
    'one row per expected key, in order',
  );
  const torch = torchImports(pythonPath());
  const tfjsNode = await tfjsNodeLoads();
  for (const { key, measured, line } of rows) {
    assert.doesNotMatch(line, /FAILED|NaN|failed:/, line);
    if (key.includes('.onnxruntime.')) {
      // An optional package: a figure when importable, else labelled so.
      assert.ok(
        FIGURE.test(measured) || measured === NOT_INSTALLED || measured.startsWith('not measured'),
        line,
      );
    } else if (key.endsWith('.tfjs-node')) {
      // Native TensorFlow: measured when @tensorflow/tfjs-node loads, else labelled so.
      if (tfjsNode) assert.match(measured, FIGURE, `tfjs-node loads, so this is measured: ${line}`);
      else assert.equal(measured, NOT_INSTALLED, line);
    } else if (PYTHON_ROW.test(key) && !key.startsWith('ceiling.')) {
      if (torch) assert.match(measured, FIGURE, `torch imports, so this is measured: ${line}`);
      else assert.equal(measured, NOT_INSTALLED, line);
    } else {
      assert.ok(/\d/.test(measured), `row has no figure: ${line}`);
    }
  }
  assert.match(stdout, /^Machine: nproc \d+, CPU .+, Node v\d+/m);
});

test(
  'without a Python that imports torch, PyTorch rows say "not installed" (no quoted figure)',
  { timeout: 300_000 },
  async () => {
    const { rows } = await runBench(['--only', 'teacherInference'], {
      FEDISTILL_BENCH_PYTHON: '/nonexistent/python3',
    });
    const torchRows = rows.filter((r) => PYTHON_ROW.test(r.key));
    assert.ok(torchRows.length >= 1, 'the section reports PyTorch rows');
    for (const row of torchRows) assert.equal(row.measured, NOT_INSTALLED, row.line);
    // The fedistill figure is still measured, and compared with nothing invented.
    const wasm = rows.find((r) => r.key === 'teacher.softlabels.wasm');
    assert.match(wasm?.measured ?? '', FIGURE);
    assert.match(wasm?.line ?? '', /PyTorch: not installed/);
  },
);
