/**
 * `npm run bench`: runs every benchmark section, each in its own process one
 * after the other (so they do not compete for the 2 cores and memory figures
 * are not polluted by the previous section), prints ONE table of figures and
 * ratios measured side by side in this run, and writes it with the machine
 * it ran on to docs/performance.md.
 *
 *   npm run bench                  full sizes; writes docs/performance.md
 *   npm run bench -- --quick       tiny sizes (CI); writes nothing unless --out is given
 *   npm run bench -- --only codec,aggregation
 *   npm run bench -- --out PATH    write the report to PATH instead
 *   npm run bench -- --no-write    print only
 *
 * FEDISTILL_BENCH_QUICK=1 is the same as --quick. Section progress goes to
 * stderr; stdout carries only the table.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import type { BenchRow } from './lib/common.js';
import { SECTIONS } from './lib/sections.js';
import type { SectionName } from './lib/sections.js';

interface Args {
  quick: boolean;
  only: SectionName[] | undefined;
  out: string | undefined;
  write: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    quick: process.env.FEDISTILL_BENCH_QUICK === '1',
    only: undefined,
    out: undefined,
    write: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') args.quick = true;
    else if (arg === '--no-write') args.write = false;
    else if (arg === '--out') args.out = argv[++i];
    else if (arg === '--only') {
      const names = (argv[++i] ?? '').split(',').filter(Boolean);
      for (const name of names) {
        if (!SECTIONS.some((s) => s.name === name)) {
          throw new Error(
            `unknown section '${name}'; sections: ${SECTIONS.map((s) => s.name).join(', ')}`,
          );
        }
      }
      args.only = names as SectionName[];
    } else throw new Error(`unknown argument '${arg}'`);
  }
  return args;
}

/** Runs one section in a child process; resolves with its rows (or a failure row). */
function runSection(
  name: SectionName,
  quick: boolean,
  timeoutMs: number,
  resultDir: string,
): Promise<{ rows: BenchRow[]; ok: boolean; seconds: number }> {
  const script = fileURLToPath(new URL(`./sections/${name}.ts`, import.meta.url));
  const resultFile = join(resultDir, `${name}.json`);
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', script], {
      env: {
        ...process.env,
        FEDISTILL_BENCH_QUICK: quick ? '1' : '0',
        FEDISTILL_BENCH_RESULT: resultFile,
      },
      // The table owns stdout: a section's own output (tfjs banners, logs) goes to stderr.
      stdio: ['ignore', process.stderr, process.stderr],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const seconds = (Date.now() - started) / 1000;
      if (code === 0) {
        try {
          const rows = JSON.parse(readFileSync(resultFile, 'utf8')) as BenchRow[];
          resolve({ rows, ok: true, seconds });
          return;
        } catch {
          // fall through to the failure row
        }
      }
      const why = signal
        ? `killed (${signal}) after ${Math.round(seconds)} s`
        : `exit code ${code}`;
      resolve({
        rows: [{ id: `${name}.failed`, item: `section ${name}`, value: `FAILED: ${why}` }],
        ok: false,
        seconds,
      });
    });
  });
}

function cell(text: string | undefined): string {
  return (text ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The table as Markdown: one row per figure. */
export function renderTable(rows: readonly BenchRow[]): string {
  const lines = [
    '| key | benchmark | measured | compared with | ratio | notes |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${cell(r.id)} | ${cell(r.item)} | ${cell(r.value)} | ${cell(r.reference)} | ${cell(r.ratio)} | ${cell(r.note)} |`,
    ),
  ];
  return lines.join('\n');
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return match?.[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown (no /proc/cpuinfo)';
  }
}

/** Each target: the ratio reached against its goal and, when it falls short, how far and what limits it. */
export function renderTargets(rows: readonly BenchRow[]): string {
  const lines: string[] = [];
  for (const row of rows) {
    const t = row.target;
    if (t === undefined) continue;
    if (t.achieved === undefined) {
      lines.push(`- **${row.id}** (${t.what}, goal ≥ ${t.goal}×): not measured in this run.`);
    } else if (t.achieved >= t.goal) {
      lines.push(`- **${row.id}** (${t.what}): ${t.achieved.toFixed(2)}×, goal ≥ ${t.goal}×: met.`);
    } else {
      lines.push(
        `- **${row.id}** (${t.what}): ${t.achieved.toFixed(2)}×, goal ≥ ${t.goal}×: not met, ` +
          `${(t.goal / Math.max(t.achieved, 1e-9)).toFixed(1)}× short. What limits it: ${t.limit}.`,
      );
    }
  }
  return lines.join('\n');
}

/** The 1-minute load average now. */
export function loadNow(): string {
  return (loadavg()[0] ?? 0).toFixed(2);
}

/** The machine, with the 1-minute load average when the run started (other work skews figures). */
export function machineLine(load = loadavg()[0] ?? 0): string {
  return [
    `nproc ${availableParallelism()}`,
    `CPU ${cpuModel()}`,
    `Node ${process.version}`,
    `${process.platform}/${process.arch}`,
    `date ${new Date().toISOString()}`,
    `load average ${load.toFixed(2)} at start`,
  ].join(', ');
}

async function writeReport(
  path: string,
  rows: readonly BenchRow[],
  machine: string,
  args: Args,
  seconds: number,
): Promise<void> {
  const text = [
    '# Performance',
    '',
    'The last table printed by `npm run bench` (written by bench/main.ts; edit the notes there).',
    'Every figure was measured in this run, and every ratio compares figures measured side by side',
    "in it, PyTorch included (bench/pytorch/torch_bench.py, run with Debian's /usr/bin/python3; a",
    'PyTorch row says "not installed" when torch does not import: `apt-get install python3-torch`).',
    'Sections run one after another, each in its own process; other work on the machine at the same',
    'time skews the figures, so the load average is given at both ends of the run.',
    '',
    `Machine: ${machine}; load average ${loadNow()} at the end.`,
    `Mode: ${args.quick ? 'quick (tiny sizes, for checking the suite works)' : 'full'}; ${Math.round(seconds)} s in all.`,
    '',
    renderTable(rows),
    '',
    '## Targets',
    '',
    renderTargets(rows),
    '',
    '## How to read it',
    '',
    "- **ceiling.\\***: GFLOP/s of one matmul of the MLP's hidden-layer shape ([batch, 800]·[800, 800]):",
    "  tfjs-backend-wasm's matMul (XNNPACK, one thread in Node) and native sgemm (torch.mm, or",
    "  numpy.matmul without torch) at 1 thread and at every core. The BLAS torch loaded is named: Debian's",
    '  `libblas.so.3` is the unoptimised reference BLAS unless an optimised one is installed',
    '  (`apt-get install libopenblas0-pthread`).',
    '- **train.\\***: samples/s of one training step loop at batch 128 (SGD lr 0.01, softmax',
    '  cross-entropy, random data), with GFLOP/s counted as 3 matmuls per layer (forward, weight',
    "  gradient, input gradient; none for the first layer's input). fedistill uses `trainLocal` with",
    "  the fast forward (custom gradients that keep the wasm matMul on XNNPACK's untransposed path and",
    '  give conv2d a filter gradient); stock tfjs is `optimizer.minimize` over `model.apply`; PyTorch',
    '  trains the same layer sizes with `torch.optim.SGD`. wasm runs one thread per process in Node,',
    '  so the all-core fedistill figure is one process per core; PyTorch uses its own threads.',
    '- **teacher.\\***: soft labels of the default teacher (MLP 784-1200-1200-10) as the coordinator',
    '  makes them: logits in batches of 256, then softmax at the training temperature. The default',
    '  path (`onnx-converted`) is the tfjs layers model converted to ONNX in memory',
    '  (server/teachers/layersToOnnx.ts, checked against tfjs on a probe batch) on the CPU provider',
    '  of onnxruntime-node; `wasm` is tfjs wasm (`--teacher-runtime wasm`, and the fallback when the',
    '  model does not convert); PyTorch runs the same model under `inference_mode`, and',
    '  onnxruntime-node the same model exported by `torch.onnx.export`.',
    '- **codec.\\***: a whole weight set through `encodeWeights` → msgpack encode → decode →',
    '  `decodeWeights`, MB/s of float32 weights, best of several runs; the limits are two',
    '  `Float32Array.set` copies of the same bytes into buffers allocated once, and the same two',
    '  copies into fresh buffers.',
    '- **wire.\\*** / **acc.\\***: bytes of the encoded messages; accuracy after a short demo-like run',
    '  (embedded MNIST, same seed and clients for every option) — differences within a few tenths',
    '  of a point are noise of a single short run.',
    '- **agg.\\***: updates generated one at a time (not timed), so memory shows what the aggregator',
    '  itself holds.',
    '- **round.overhead**: the share of a round that is neither local training (union of the',
    "  clients' training intervals) nor aggregation (time inside FedAvgAccumulator). **round.close**:",
    '  from the last accepted update to the round record, split by wrapping the methods that do the',
    "  work: the student's forward passes over the test set (evaluation), `DirectoryCheckpoints.save`",
    '  and `RunStore.recordRound` (SQLite). In-process clients share the event loop, so the async',
    '  checkpoint write also counts other work that ran while it waited.',
    '- **scale.\\***: simulated clients with no model answering with a fixed small int8 delta.',
    '- **edges.\\***: the same simulated clients, 10,000 over 4 `fedistill edge` processes with a',
    '  local redis-server and the master in the section process, against one coordinator with',
    '  1,000 measured in the same run (docs/scaling.md). RSS is read without a forced GC on both sides;',
    "  the master's inbound bytes are the stream entries it read while the round was open.",
    '- **secagg.\\***: the whole secure-aggregation protocol in memory (no sockets), student',
    '  mlp:128, t = max(2, ⌈2n/3⌉), scale 2²⁰. A client: quantize + keys + shares + mask + unmask +',
    '  msgpack (median over clients) against producing a plain float32 update; the server:',
    '  `finishUnmask` (best of several rounds) against FedAvgAccumulator over the same deltas, with',
    '  no dropout and with one client dropped after sharing; bytes a client sends in all four steps',
    '  against a plain float32 update. Every round checks the unmasked sum is exact.',
    '- **\\*.tfjs-node**: the same work on native TensorFlow through `@tensorflow/tfjs-node`, an',
    '  optional package (its install downloads libtensorflow from storage.googleapis.com, outside the',
    '  npm registry, so it is often absent and these rows say "not installed"). With it installed',
    '  (`npm install @tensorflow/tfjs-node@4.22.0`) the coordinator and Node clients pick it before',
    '  wasm (node/backend.ts), and TensorFlow runs its kernels on its own threads.',
    '',
    '## Notes',
    '',
    '- **wasm threads in Node (tried, not kept).** tfjs-backend-wasm 4.22 ships a threaded-SIMD build',
    '  but reports threads unsupported in Node (`WASM_HAS_MULTITHREAD_SUPPORT` is false when',
    '  `IS_NODE`). Forcing the flag makes the backend start emscripten pthread workers from `blob:`',
    "  URLs, which Node's worker_threads refuse (`ERR_WORKER_PATH`). Writing the worker and main",
    "  scripts to files instead (and defining the bundle's `require$$0..4` / `commonjsGlobal` names in",
    '  the worker) lets the threaded-SIMD module initialise with a pool of 8 workers (1.3–3 s), but',
    '  `getThreadsCount()` stays 1 after `setThreadsCount(2)` (also 4, 8): the backend caps its',
    "  XNNPACK pool at half the logical cores (`emscripten_num_logical_cores() / 2`, Node's",
    '  `os.cpus().length`), which is 1 on a 2-core machine. Reporting 4 CPUs during initialisation',
    '  gives a pool of 2, but on this shared machine (load average 15–21, the process getting 0.35–0.55',
    '  CPU-seconds per second) five alternating runs of the 128×800·800×800 matMul gave 12.7–27.5',
    '  GFLOP/s with 2 threads against 14.6–23.6 with 1 (median 17.0 both): no gain, for a fragile',
    '  patch of tfjs internals. So wasm stays one thread per process in Node, and parallelism on a',
    '  machine is one client process per core (train.mlp.fedistill-per-core).',
    '- **int8 encoding** divides only near ties: q = round(w · (1/scale)) unless w · (1/scale) is',
    '  within 1e-9 of a half-integer, where round(w / scale) decides. Both are float64 results a few',
    '  ulps from the exact quotient (|q| ≤ 127), so q is bit-identical to dividing every weight (a',
    '  unit test compares them element by element, exact ties included); the format and the error',
    '  bound are unchanged.',
    '- **Finiteness** is checked once per side of the wire: the sender scans its weights in',
    '  `encodeWeights` (float16: inside the conversion; int8: in the per-segment max |w|), the receiver',
    "  in `decodeWeights` (float32: one scan of the caller's copy; float16: inside the table-lookup",
    '  conversion; int8: no scan needed unless 128 · scale overflows float32), and FedAvgAccumulator',
    '  scans again, since a caller may hand it any array and a refused update must leave the sum',
    '  untouched.',
    '',
  ].join('\n');
  const options = (await resolveConfig(path)) ?? {};
  writeFileSync(path, await format(text, { ...options, filepath: path }));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const machine = machineLine();
  const sections = SECTIONS.filter((s) => args.only === undefined || args.only.includes(s.name));
  const resultDir = mkdtempSync(join(tmpdir(), 'fedistill-bench-'));
  const rows: BenchRow[] = [];
  let failed = 0;
  const started = Date.now();
  try {
    for (const section of sections) {
      process.stderr.write(`[bench] section ${section.name} ...\n`);
      const outcome = await runSection(
        section.name,
        args.quick,
        (args.quick ? section.quickTimeoutS : section.timeoutS) * 1000,
        resultDir,
      );
      process.stderr.write(
        `[bench] section ${section.name}: ${outcome.ok ? 'ok' : 'FAILED'} in ${outcome.seconds.toFixed(1)} s\n`,
      );
      if (!outcome.ok) failed++;
      rows.push(...outcome.rows);
    }
  } finally {
    rmSync(resultDir, { recursive: true, force: true });
  }
  const seconds = (Date.now() - started) / 1000;
  const table = renderTable(rows);
  process.stdout.write(
    `Machine: ${machine}${args.quick ? ' (quick mode)' : ''}; load average ${loadNow()} at the end\n\n${table}\n\n${renderTargets(rows)}\n`,
  );
  const out = args.out ?? (args.quick || args.only ? undefined : 'docs/performance.md');
  if (args.write && out !== undefined) {
    await writeReport(out, rows, machine, args, seconds);
    process.stderr.write(`[bench] wrote ${out}\n`);
  }
  process.exitCode = failed > 0 ? 1 : 0;
}

await main();
