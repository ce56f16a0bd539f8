/**
 * The benchmark suite in quick mode (tiny sizes): it must run to the end and
 * print one table holding every row. Benchmarks are not timed tests: nothing
 * here asserts a speed or a wall-clock limit.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ROW_IDS } from '../../bench/lib/sections.js';

const MAIN = fileURLToPath(new URL('../../bench/main.ts', import.meta.url));

test('npm run bench -- --quick prints a table with every row', { timeout: 300_000 }, async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--quick', '--no-write'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr
    .setEncoding('utf8')
    .on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-8000)));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, `bench exited with ${code}:\n${stderr}`);

  const rows = stdout
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| ---'));
  const [header, ...body] = rows;
  assert.match(
    header ?? '',
    /\| key \| benchmark \| measured \| compared with \| ratio \| notes \|/,
  );
  const keys = body.map((line) => line.split('|')[1]?.trim());
  assert.deepEqual(keys, [...ROW_IDS], 'one row per expected key, in order');
  for (const line of body) {
    const measured = line.split('|')[3]?.trim() ?? '';
    assert.ok(/\d/.test(measured), `row has no figure: ${line}`);
    assert.doesNotMatch(line, /FAILED|NaN/, line);
  }
  assert.match(stdout, /^Machine: nproc \d+, CPU .+, Node v\d+/m);
});
