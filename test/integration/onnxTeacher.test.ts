/**
 * A federated run driven by a PyTorch teacher: `fedistill serve --teacher
 * small-cnn.onnx` (the CNN test/fixtures/onnx/train_cnn.py trained on the
 * embedded split's teacher part and exported) with two real `join` client
 * processes, two rounds, to the summary. The ONNX teacher labels the proxy
 * set, scores on the held-out test split, and the student learns from it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { RunSummary } from '../../server/summary.js';
import type { CliProcess } from './processes.js';
import { runCli } from './processes.js';

const MODEL = fileURLToPath(new URL('../fixtures/onnx/small-cnn.onnx', import.meta.url));

async function waitFor(
  cli: CliProcess,
  pattern: RegExp,
  timeoutMs: number,
): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = pattern.exec(cli.output());
    if (match) return match;
    if (cli.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no ${pattern} in the output:\n${cli.output()}`);
}

test('serve --teacher model.onnx: an ONNX teacher drives a two-round run with two client processes', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-onnx-run-'));
  const clients: CliProcess[] = [];
  const serve = runCli(
    [
      'serve',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--teacher',
      MODEL,
      '--teacher-feature-layer',
      'features',
      '--student',
      'mlp:32',
      '--rounds',
      '2',
      '--min-clients',
      '2',
      '--epochs',
      '1',
      '--backend',
      'cpu',
    ],
    480_000,
  );
  try {
    const [, url] = await waitFor(serve, /dashboard: (http:\/\/127\.0\.0\.1:\d+)\//, 240_000);
    for (let i = 0; i < 2; i++) {
      clients.push(
        runCli(
          [
            'join',
            '--server',
            url!,
            '--data',
            `demo:${i}/2`,
            '--name',
            `onnx-client-${i}`,
            '--cache-dir',
            join(dataDir, `client-${i}`),
            '--backend',
            'cpu',
          ],
          480_000,
        ),
      );
    }
    const { code, output } = await serve.exited;
    assert.equal(code, 0, output);
    assert.match(output, /onnx runtime: cpu provider/);
    assert.match(output, new RegExp(`teacher: ONNX model ${MODEL}, 27562 parameters`));
    assert.match(output, /soft labels: \d+ proxy samples at T=[\d.]+ in \d+ ms on onnxruntime:cpu/);
    const [run] = readdirSync(join(dataDir, 'runs'));
    const summary = JSON.parse(
      readFileSync(join(dataDir, 'runs', run!, 'summary.json'), 'utf8'),
    ) as RunSummary;
    assert.equal(summary.status, 'completed');
    assert.equal(summary.roundsAggregated, 2);
    assert.equal(summary.clients, 2);
    assert.equal(summary.teacher.parameters, 27_562);
    assert.equal(summary.teacher.description, `ONNX model ${MODEL}`);
    // Trained by PyTorch on the teacher part of the same seed-42 split, scored here on its test part.
    assert.ok(
      summary.teacher.testAccuracy > 0.9,
      `teacher accuracy ${summary.teacher.testAccuracy}`,
    );
    assert.ok(
      summary.student.testAccuracy !== null && summary.student.testAccuracy > 0.5,
      `student accuracy ${summary.student.testAccuracy}`,
    );
    assert.deepEqual(
      summary.student.exports.map((e) => e.precision),
      ['float32', 'float16', 'uint8'],
    );
    for (const client of clients) assert.equal((await client.exited).code, 0, client.output());
  } finally {
    serve.kill();
    for (const client of clients) client.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
