/**
 * `npm run results` on miniature configs: the report has the centralised
 * table beside the paper's numbers, a grid row per strategy and α, and a
 * plot per α next to the Markdown.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateResults } from '../../sim/report.js';

test('generateResults writes the report and its plots from a configs folder', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-report-'));
  try {
    const configs = join(dir, 'configs');
    mkdirSync(configs);
    const cache = JSON.stringify(join(dir, 'cache'));
    writeFileSync(
      join(configs, 'hinton.yaml'),
      [
        'total: 600',
        'test: 100',
        `cacheDir: ${cache}`,
        "teacher: { spec: 'mlp:64', training: { epochs: 2 } }",
        "student: { spec: 'mlp:16', training: { epochs: 2 } }",
      ].join('\n'),
    );
    for (const alpha of [100, 0.5]) {
      writeFileSync(
        join(configs, `federated-alpha-${alpha}.yaml`),
        [
          `name: federated-alpha-${alpha}`,
          `cacheDir: ${cache}`,
          'data: { total: 1000 }',
          'clients: 3',
          `partition: { kind: dirichlet, alpha: ${alpha} }`,
          'rounds: 2',
          "teacher: { spec: 'mlp:64', epochs: 2 }",
          "student: 'mlp:16'",
          'strategy: [fedavg, fedmd]',
          'logitExchange: { samples: 50 }',
          'workers: 2',
        ].join('\n'),
      );
    }
    const output = join(dir, 'docs', 'results.md');
    const markdown = await generateResults({
      configsDir: configs,
      output,
      runsDir: join(dir, 'runs'),
    });
    assert.equal(readFileSync(output, 'utf8'), markdown);
    assert.match(markdown, /^# Results/);
    assert.match(markdown, /about 1\/120 of the data/);
    // Prettier pads table cells; compare with single spaces.
    const flat = markdown.replace(/ {2,}/g, ' ');
    assert.match(
      flat,
      /\| teacher \(mlp-784-64-10\) \| 50,890 \| \d+ of 100 \| [\d.]+% \| 67 \| 0\.67% \|/,
    );
    assert.match(flat, /\| student alone \(mlp-784-16-10\) \| 12,730 \| \d+ of 100 \|.*\| 146 \|/);
    assert.match(flat, /\| student distilled \(mlp-784-16-10\) \|.*\| 74 \|/);
    // The grid orders α numerically, whatever the file names sort to.
    assert.match(flat, /\| strategy \| α = 0\.5 \| α = 100 \|/);
    assert.match(flat, /\| fedmd \| [\d.]+% \| [\d.]+% \|/);
    for (const alpha of ['0.5', '100']) {
      assert.match(flat, new RegExp(`\\]\\(results/federated-alpha-${alpha}\\.svg\\)`));
      assert.ok(existsSync(join(dir, 'docs', 'results', `federated-alpha-${alpha}.svg`)));
      assert.ok(existsSync(join(dir, 'runs', `federated-alpha-${alpha}`, 'metrics.jsonl')));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
