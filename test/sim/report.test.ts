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

test('generateResults --only fashion-mnist replaces only that section; --reuse takes saved results of the same config', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-report-fashion-'));
  try {
    const configs = join(dir, 'configs');
    mkdirSync(configs);
    writeFileSync(
      join(configs, 'fashion-mnist-alpha-1.yaml'),
      [
        'name: fashion-mnist-alpha-1',
        `cacheDir: ${JSON.stringify(join(dir, 'cache'))}`,
        "data: { source: 'fashion-mnist:train', testSource: 'fashion-mnist:test', total: 600 }",
        'clients: 3',
        'partition: { kind: dirichlet, alpha: 1 }',
        'rounds: 1',
        "teacher: { spec: 'mlp:16', epochs: 1 }",
        "student: 'mlp:8'",
        'strategy: [fedavg]',
        'workers: 0',
      ].join('\n'),
    );
    // A config naming distillation terms is an extra row of the column with its α and student.
    writeFileSync(
      join(configs, 'fashion-mnist-alpha-1-combined.yaml'),
      [
        'name: fashion-mnist-alpha-1-combined',
        `cacheDir: ${JSON.stringify(join(dir, 'cache'))}`,
        "data: { source: 'fashion-mnist:train', testSource: 'fashion-mnist:test', total: 600 }",
        'clients: 3',
        'partition: { kind: dirichlet, alpha: 1 }',
        'rounds: 1',
        'training: { distillation: [{ name: response, weight: 1 }, { name: hint, weight: 0.5 }] }',
        "teacher: { spec: 'mlp:16', epochs: 1 }",
        "student: 'mlp:8'",
        'strategy: [feddf]',
        'workers: 0',
      ].join('\n'),
    );
    const output = join(dir, 'docs', 'results.md');
    const options = { configsDir: configs, output, runsDir: join(dir, 'runs') };
    await assert.rejects(
      generateResults({ ...options, only: 'fashion-mnist' }),
      /keeps the other parts of .*results\.md, which does not exist/,
    );
    mkdirSync(join(dir, 'docs'), { recursive: true });
    writeFileSync(output, '# Results\n\nParts 1 and 2 as generated before.\n');
    const first = await generateResults({ ...options, only: 'fashion-mnist' });
    assert.match(
      first,
      /^# Results\n\nParts 1 and 2 as generated before\.\n\n## 3\. Fashion-MNIST/,
    );
    assert.match(
      first,
      /Data: fashion-mnist:train, 480 of its 60,000 samples; test from fashion-mnist:test \(120 of 10,000\)/,
    );
    assert.doesNotMatch(first, /saved results/);
    const flat = first.replace(/ {2,}/g, ' ');
    assert.match(flat, /\| strategy \| α = 1 \|\n/, 'the extra row adds no column');
    assert.match(flat, /\| feddf: response \+ 0\.5·hint \| [\d.]+% \|\n/);
    assert.match(
      flat,
      /\| feddf: response \+ 0\.5·hint \| [\d.]+% \| [\d.]+% \| /,
      'and a row of its table',
    );
    assert.match(first, /row runs the distillation terms its configs name/);
    assert.match(first, /The teacher is `mlp:16`\./);
    assert.match(first, /1 epochs of batch 64, Adam lr 0\.001 on its split; trained in \d+ s/);
    assert.equal(
      first.match(/!\[accuracy and loss per round/g)?.length,
      1,
      'no plot for the extra row',
    );
    const logs: string[] = [];
    const second = await generateResults({
      ...options,
      only: 'fashion-mnist',
      reuse: true,
      log: (m) => logs.push(m),
    });
    assert.ok(
      logs.some((m) => /reusing the earlier result of this config/.test(m)),
      logs.join('\n'),
    );
    assert.match(second, /2 of its 2 simulations are the saved results of earlier runs/);
    assert.equal(
      second.match(/## 3\. Fashion-MNIST/g)?.length,
      1,
      'the section is replaced, not repeated',
    );
    const table = (md: string) =>
      md.slice(md.indexOf('**Final test accuracy**'), md.indexOf('**Rounds'));
    assert.equal(table(second), table(first));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
