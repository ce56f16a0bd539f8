/**
 * `fedistill simulate` as a user runs it: a YAML config in, a run directory
 * out with one metrics line per round, a Markdown summary and an SVG plot;
 * a bad config stops before anything trains, naming the field.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../integration/processes.js';
import type { SimRoundMetrics } from '../../sim/results.js';

test('fedistill simulate writes metrics, summary and plot for every strategy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-simulate-'));
  try {
    const config = join(dir, 'sim.yaml');
    writeFileSync(
      config,
      [
        'name: cli-test',
        `cacheDir: ${JSON.stringify(join(dir, 'cache'))}`,
        'data: { total: 1000 }',
        'clients: 3',
        'rounds: 2',
        'partition: { kind: shards, perClient: 2 }',
        "teacher: { spec: 'mlp:64', epochs: 2 }",
        "student: 'mlp:32'",
        'strategy: [fedkd, central]',
        'workers: 2',
      ].join('\n'),
    );
    const out = join(dir, 'run');
    const { code, output } = await runCli(['simulate', '--config', config, '--out', out], 240_000)
      .exited;
    assert.equal(code, 0, output);
    assert.match(output, /\| fedkd \| [\d.]+% \|/);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as SimRoundMetrics);
    assert.deepEqual(
      metrics.map((m) => `${m.strategy} ${m.round}`),
      ['fedkd 1', 'fedkd 2', 'central 1', 'central 2'],
    );
    const summary = readFileSync(join(out, 'summary.md'), 'utf8');
    assert.match(summary, /^# Simulation cli-test/);
    assert.match(summary, /2 label shards per client/);
    assert.match(summary, /\| central \|/);
    const svg = readFileSync(join(out, 'rounds.svg'), 'utf8');
    assert.match(svg, /^<svg[^>]+xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /fedkd/);
    assert.match(svg, /central/);
    assert.ok(existsSync(join(out, 'result.json')));
    assert.ok(existsSync(join(out, 'coordinator', 'fedistill.sqlite')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fedistill simulate runs on Fashion-MNIST and on a data folder named in the YAML', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-simulate-data-'));
  try {
    const config = join(dir, 'fashion.yaml');
    writeFileSync(
      config,
      [
        'name: fashion-test',
        `cacheDir: ${JSON.stringify(join(dir, 'cache'))}`,
        "data: { source: 'fashion-mnist:train', testSource: 'fashion-mnist:test', total: 600 }",
        'clients: 3',
        'rounds: 1',
        "teacher: { spec: 'mlp:32', epochs: 1 }",
        'student: cnn',
        'strategy: fedkd',
        'workers: 0',
      ].join('\n'),
    );
    const out = join(dir, 'run');
    const run = await runCli(['simulate', '--config', config, '--out', out], 240_000).exited;
    assert.equal(run.code, 0, run.output);
    const summary = readFileSync(join(out, 'summary.md'), 'utf8');
    assert.match(
      summary,
      /Data: fashion-mnist:train, 480 of its 60,000 samples; test from fashion-mnist:test \(120 of 10,000\)/,
    );
    const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as {
      data: { inputShape: number[]; numClasses: number };
    };
    assert.deepEqual(result.data.inputShape, [28, 28, 1]);
    assert.equal(result.data.numClasses, 10);
    // The CNN student was sized to the images (conv2d on 28×28×1).
    const spec = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { student: string };
    assert.equal(spec.student, 'cnn');
    assert.match(readFileSync(join(out, 'metrics.jsonl'), 'utf8'), /"strategy":"fedkd"/);

    // The same YAML naming the dataset without a split stops before training, saying how to choose.
    writeFileSync(
      config,
      readFileSync(config, 'utf8').replace("'fashion-mnist:train'", 'fashion-mnist'),
    );
    const refused = await runCli(
      ['simulate', '--config', config, '--out', join(dir, 'run2')],
      60_000,
    ).exited;
    assert.equal(refused.code, 1);
    assert.match(refused.output, /choose one: fashion-mnist:t10k or fashion-mnist:train/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fedistill simulate refuses a bad config, naming the field', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-simulate-bad-'));
  try {
    const config = join(dir, 'bad.yaml');
    writeFileSync(config, 'clients: 3\npartition: { kind: dirichlet, alpha: 0 }\n');
    const { code, output } = await runCli(['simulate', '--config', config], 60_000).exited;
    assert.equal(code, 1);
    assert.match(output, /bad\.yaml/);
    assert.match(output, /partition\.alpha/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
