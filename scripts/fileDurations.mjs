/**
 * A node:test reporter that prints, after the run, how long each test file took:
 * wall time from the runner starting the file's process (`test:dequeue` of the
 * file itself) to its end (`test:complete`); files run two at a time, so these
 * overlap. The tests' own events arrive only when their file is done, so they
 * cannot be timed this way. Then the count of tests passed and failed, so the
 * run's output still ends with one. scripts/run-tests.ts adds it beside
 * the spec reporter, so CI's output says which files make the suite slow.
 * Plain JavaScript: Node 20 loads reporters without the tsx loader.
 */
import { relative } from 'node:path';

/**
 * @param {ReadonlyMap<string, { first: number, last: number }>} spans
 * @returns {[string, number][]} files and their seconds, slowest first
 */
export function slowestFiles(spans) {
  return [...spans.entries()]
    .map(
      ([file, span]) => /** @type {[string, number]} */ ([file, (span.last - span.first) / 1000]),
    )
    .sort((a, b) => b[1] - a[1]);
}

/** @param {AsyncIterable<{ type: string, data: { file?: string, name?: string, skip?: unknown, todo?: unknown, details?: { type?: string } } }>} source */
async function* fileDurations(source) {
  const spans = new Map();
  const counts = { passed: 0, failed: 0, skipped: 0 };
  for await (const event of source) {
    const { file, name } = event.data ?? {};
    const isTest = name !== file && event.data?.details?.type !== 'suite';
    if (isTest && event.type === 'test:pass') {
      if (event.data.skip || event.data.todo) counts.skipped += 1;
      else counts.passed += 1;
    } else if (isTest && event.type === 'test:fail') counts.failed += 1;
    // The file's own entry is the one named by its path.
    if (!file || name !== file) continue;
    if (event.type === 'test:dequeue') spans.set(file, { first: Date.now(), last: Date.now() });
    else if (event.type === 'test:complete' && spans.has(file)) spans.get(file).last = Date.now();
  }
  const rows = slowestFiles(spans);
  if (rows.length > 0) {
    yield '\ntest files by wall time (two run at a time):\n';
    for (const [file, seconds] of rows)
      yield `${seconds.toFixed(1).padStart(7)} s  ${relative(globalThis.process.cwd(), file)}\n`;
  }
  // The run's last line stays a test count, as CI reads it.
  yield `\ntests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`;
}

// node:test loads a custom reporter as the module's default export.
export default fileDurations;
