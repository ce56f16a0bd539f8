/**
 * What the teacher can run on here, measured: which tfjs backends and ONNX
 * Runtime execution providers load, the soft-label throughput of the same
 * teacher on each, and whether their soft labels agree (max abs difference
 * from the CPU reference). Run by scripts/gpu-check.sh; prints a Markdown
 * table and writes JSON (`--json FILE`).
 *
 * Each tfjs backend runs in its own child process: tfjs-node and
 * tfjs-node-gpu both register the 'tensorflow' backend, so one process can
 * hold only one of them.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildModel } from '../shared/models/index.js';
import { softmaxRows } from '../shared/softLabels/index.js';
import { loadMnist } from '../node/data/index.js';
import { selectNodeBackend } from '../node/backend.js';
import { defaultTeacherSpec } from '../server/defaultTeacher.js';
import {
  cudaProviderMissing,
  loadOnnxTeacher,
  teacherFromLayersModel,
} from '../server/teachers/index.js';
import type { Teacher } from '../server/teachers/index.js';

const ONNX_MODEL = fileURLToPath(new URL('../test/fixtures/onnx/small-cnn.onnx', import.meta.url));
/**
 * The tfjs backends a teacher can use, the CPU reference first. The pure-JS
 * `cpu` backend is left out: it takes minutes for this teacher, and wasm is
 * the CPU backend fedistill falls back to anyway.
 */
const TFJS_CANDIDATES = ['wasm', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'];

interface Row {
  runtime: 'tfjs' | 'onnxruntime';
  backend: string;
  teacher: string;
  loaded: boolean;
  /** Why it did not load, or what it ran on when it did. */
  note: string;
  samples?: number;
  samplesPerSecond?: number;
  /** Max abs difference of its soft labels (T=1) from the reference (the first row of its runtime that loaded: tfjs wasm, ONNX cpu) for the same teacher. */
  maxAbsDiffFromCpu?: number;
}

const { values: args } = parseArgs({
  options: {
    json: { type: 'string' },
    samples: { type: 'string', default: '1024' },
    repeats: { type: 'string', default: '3' },
    'tfjs-child': { type: 'string' },
    out: { type: 'string' },
  },
});
const samples = Number(args.samples);
const repeats = Number(args.repeats);

async function throughput(
  teacher: Teacher,
  x: Float32Array,
  count: number,
): Promise<{ perSecond: number; probs: Float32Array }> {
  const logits = await teacher.logits(x, count); // warm-up: kernel compilation, allocation, CUDA init
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await teacher.logits(x, count);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  return { perSecond: count / (median / 1000), probs: softmaxRows(logits, teacher.numClasses, 1) };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

function inputs(): { x: Float32Array; count: number } {
  const digits = loadMnist({ count: Math.min(samples, 10_000) });
  return { x: digits.x, count: digits.count };
}

/** Child mode: one tfjs backend, the CNN default-teacher architecture with fixed seeded weights. */
async function tfjsChild(candidate: string, out: string): Promise<void> {
  const result: { row: Row; probs?: number[] } = {
    row: {
      runtime: 'tfjs',
      backend: candidate,
      teacher: 'cnn teacher (seeded weights)',
      loaded: false,
      note: '',
    },
  };
  try {
    const choice = await selectNodeBackend({ force: candidate });
    const spec = defaultTeacherSpec({ kind: 'cnn', inputShape: [784], numClasses: 10 });
    const teacher = teacherFromLayersModel(buildModel(spec, 1), {
      description: 'gpu-check cnn',
      hash: 'seed-1',
      outputs: 'logits',
    });
    const { x, count } = inputs();
    const { perSecond, probs } = await throughput(teacher, x, count);
    result.row = {
      ...result.row,
      loaded: true,
      note: `tf backend ${choice.name}`,
      samples: count,
      samplesPerSecond: perSecond,
    };
    result.probs = Array.from(probs);
    teacher.dispose();
  } catch (error) {
    result.row.note = (error as Error).message.split('\n')[0]!;
  }
  writeFileSync(out, JSON.stringify(result));
}

async function onnxRows(): Promise<Row[]> {
  const { x, count } = inputs();
  const rows: Row[] = [];
  let reference: Float32Array | undefined;
  for (const provider of ['cpu', 'cuda'] as const) {
    const row: Row = {
      runtime: 'onnxruntime',
      backend: provider,
      teacher: 'small-cnn.onnx (PyTorch)',
      loaded: false,
      note: '',
    };
    try {
      const teacher = await loadOnnxTeacher(ONNX_MODEL, { provider });
      const { perSecond, probs } = await throughput(teacher, x, count);
      reference ??= probs;
      Object.assign(row, {
        loaded: true,
        note: teacher.backendName,
        samples: count,
        samplesPerSecond: perSecond,
        maxAbsDiffFromCpu: maxAbsDiff(probs, reference),
      });
      teacher.dispose();
    } catch (error) {
      row.note = (error as Error).message.split('\n')[0]!;
    }
    rows.push(row);
  }
  return rows;
}

function tfjsRows(): Row[] {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-gpu-check-'));
  const rows: Row[] = [];
  let reference: Float32Array | undefined;
  const results: { row: Row; probs?: number[] }[] = [];
  for (const candidate of TFJS_CANDIDATES) {
    const out = join(dir, `${candidate.replace(/\W/g, '_')}.json`);
    const child = spawnSync(
      process.execPath,
      [
        '--import',
        import.meta.resolve('tsx'),
        fileURLToPath(import.meta.url),
        '--tfjs-child',
        candidate,
        '--out',
        out,
        '--samples',
        String(samples),
        '--repeats',
        String(repeats),
      ],
      { encoding: 'utf8', timeout: 40_000 },
    );
    try {
      results.push(JSON.parse(readFileSync(out, 'utf8')) as { row: Row; probs?: number[] });
    } catch {
      const tail = `${child.stderr ?? ''}`.trim().split('\n').slice(-1)[0] ?? '';
      results.push({
        row: {
          runtime: 'tfjs',
          backend: candidate,
          teacher: 'cnn teacher (seeded weights)',
          loaded: false,
          note: `child failed (${child.signal ?? `exit ${child.status}`}): ${tail}`,
        },
      });
    }
  }
  for (const { row, probs } of results) {
    if (probs) {
      const p = Float32Array.from(probs);
      reference ??= p;
      row.maxAbsDiffFromCpu = maxAbsDiff(p, reference);
    }
    rows.push(row);
  }
  rmSync(dir, { recursive: true, force: true });
  return rows;
}

function table(rows: Row[]): string {
  const fmt = (v: number | undefined, digits: number) =>
    v === undefined ? '–' : v.toFixed(digits);
  const lines = [
    '| runtime | backend | teacher | loads | samples/s | max abs diff of soft labels vs CPU | note |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.runtime} | ${r.backend} | ${r.teacher} | ${r.loaded ? 'yes' : 'no'} | ${fmt(r.samplesPerSecond, 0)} | ${r.maxAbsDiffFromCpu === undefined ? '–' : r.maxAbsDiffFromCpu.toExponential(2)} | ${r.note.replace(/\|/g, '/')} |`,
    ),
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (args['tfjs-child']) {
    await tfjsChild(args['tfjs-child'], args.out!);
    return;
  }
  const started = Date.now();
  const rows = [...tfjsRows(), ...(await onnxRows())];
  const gpuRows = rows.filter(
    (r) => r.backend === 'cuda' || r.backend === '@tensorflow/tfjs-node-gpu',
  );
  const report = {
    date: new Date().toISOString(),
    node: process.version,
    samples,
    repeats,
    cudaProvider: cudaProviderMissing() ?? 'installed',
    gpuAvailable: gpuRows.some((r) => r.loaded),
    rows,
    seconds: (Date.now() - started) / 1000,
  };
  process.stdout.write(
    `${table(rows)}\n\nGPU backend loaded: ${report.gpuAvailable ? 'yes' : 'no'} (${report.seconds.toFixed(0)} s)\n`,
  );
  if (args.json) writeFileSync(args.json, JSON.stringify(report, null, 2));
}

await main();
