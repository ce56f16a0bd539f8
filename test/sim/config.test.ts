/**
 * The simulation config: defaults fill every field, a list of strategies is
 * kept in order without repeats, and each kind of mistake fails with a
 * message that names the field.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseSimConfig, readSimConfigFile, resolveSpec } from '../../sim/config.js';
import { coordinatorConfigFor } from '../../sim/simulate.js';
import { parseCoordinatorConfig } from '../../server/config.js';

test('an empty config takes every default', () => {
  const config = parseSimConfig({});
  assert.equal(config.clients, 10);
  assert.equal(config.rounds, 10);
  assert.deepEqual(config.strategy, ['fedkd']);
  assert.deepEqual(config.seeds, [1]);
  assert.deepEqual(config.partition, { kind: 'dirichlet', alpha: 0.5, minPerClient: 10 });
  assert.deepEqual(config.participation, { fraction: 1, minClients: 2 });
  assert.equal(config.training.epochs, 1);
  assert.equal(config.training.proximalMu, 0);
  assert.equal(config.teacher.spec, 'mlp:1200,1200');
  assert.equal(config.student, 'mlp:128');
  assert.equal(config.workers, 'auto');
  assert.equal(config.data.total, 10_000);
  assert.equal(config.logitExchange.samples, 500);
  assert.equal(config.ensembleDistillation.epochs, 1);
});

test('strategies: one or a list, order kept, repeats dropped; central allowed', () => {
  assert.deepEqual(parseSimConfig({ strategy: 'feddf' }).strategy, ['feddf']);
  assert.deepEqual(parseSimConfig({ strategy: ['local', 'fedavg', 'local', 'central'] }).strategy, [
    'local',
    'fedavg',
    'central',
  ]);
});

test('the coordinator config of a run passes its own schema and carries the strategy settings', () => {
  const sim = parseSimConfig({
    clients: 3,
    participation: { fraction: 0.5, minClients: 5 },
    training: { proximalMu: 0.01 },
    serverOptimizer: { kind: 'fedadam' },
    aggregator: { kind: 'median' },
  });
  const config = parseCoordinatorConfig(coordinatorConfigFor(sim, 'fedkd', 7, '/tmp/x'));
  assert.equal(config.strategy, 'fedkd');
  assert.equal(config.seed, 7);
  assert.equal(config.minClients, 3, 'capped at the number of clients');
  assert.equal(config.fraction, 0.5);
  assert.equal(config.training.proximalMu, 0.01);
  assert.equal(config.serverOptimizer.kind, 'fedadam');
  assert.equal(config.aggregator.kind, 'median');
});

const bad: [string, unknown, RegExp][] = [
  ['unknown strategy', { strategy: 'fedsgd' }, /strategy/],
  ['negative Dirichlet alpha', { partition: { kind: 'dirichlet', alpha: -1 } }, /partition\.alpha/],
  ['unknown partition', { partition: { kind: 'pathological' } }, /partition/],
  ['zero clients', { clients: 0 }, /clients/],
  ['fraction above 1', { participation: { fraction: 1.5 } }, /participation\.fraction/],
  ['bad student shorthand', { student: 'mlp:abc' }, /student/],
  ['teacher epochs 0', { teacher: { epochs: 0 } }, /teacher\.epochs/],
  ['temperature 0', { training: { temperature: 0 } }, /training\.temperature/],
  ['alpha above 1', { training: { alpha: 2 } }, /training\.alpha/],
  ['unknown key', { rounds: 3, roudns: 4 }, /roudns/],
  ['shares over 1', { data: { split: { teacher: 0.9 } } }, /data\.split/],
  [
    'per-client students with weight averaging',
    { strategy: ['fedkd'], clientStudents: ['mlp:16'] },
    /clientStudents/,
  ],
  ['more clients than digits', { clients: 500, data: { total: 1000 } }, /clients/],
  [
    'bad server optimiser',
    { serverOptimizer: { kind: 'fedadam', beta1: 1 } },
    /serverOptimizer\.beta1/,
  ],
];

for (const [what, input, field] of bad) {
  test(`rejects ${what}, naming the field`, () => {
    assert.throws(
      () => parseSimConfig(input),
      (error: Error) => {
        assert.match(error.message, /invalid simulation config/);
        assert.match(error.message, field);
        return true;
      },
    );
  });
}

test('reads YAML and JSON files, naming the file in errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-simcfg-'));
  try {
    const yaml = join(dir, 'sim.yaml');
    writeFileSync(yaml, 'clients: 4\nstrategy: [fedavg, fedkd]\npartition: { kind: iid }\n');
    const config = readSimConfigFile(yaml);
    assert.equal(config.clients, 4);
    assert.deepEqual(config.strategy, ['fedavg', 'fedkd']);
    const json = join(dir, 'sim.json');
    writeFileSync(json, JSON.stringify({ rounds: 0 }));
    assert.throws(() => readSimConfigFile(json), /sim\.json[\s\S]*rounds/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('model shorthands resolve to specs sized to the data', () => {
  const mlp = resolveSpec('mlp:32,16', [784], 10);
  assert.deepEqual(mlp.inputShape, [784]);
  assert.deepEqual(
    mlp.layers.map((l) => (l.type === 'dense' ? l.units : 0)),
    [32, 16],
  );
  // A cnn takes the data's image shape.
  assert.deepEqual(resolveSpec('cnn', [28, 28, 1], 10).inputShape, [28, 28, 1]);
  assert.deepEqual(resolveSpec('cnn', [32, 32, 3], 4).inputShape, [32, 32, 3]);
  assert.equal(resolveSpec('cnn', [32, 32, 3], 4).numClasses, 4);
  // Flat rows are read as a square image when they are one; otherwise refused.
  assert.deepEqual(resolveSpec('cnn', [784], 10).inputShape, [28, 28, 1]);
  assert.throws(() => resolveSpec('cnn', [785], 10), /cnn needs image data/);
});
