import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readConfigFile } from '../../../cli/serveCommand.js';
import { parseCoordinatorConfig } from '../../../server/config.js';
import { buildProgram } from '../../../cli/program.js';

test('coordinator settings come from YAML or JSON files and are validated with the field named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-config-'));
  try {
    writeFileSync(
      join(dir, 'c.yaml'),
      'rounds: 3\nstrategy: feddf\ntraining:\n  epochs: 4\n  batchSize: 16\n  learningRate: 0.01\n  temperature: 2\n  alpha: 0.5\n  optimizer: sgd\n  updatePrecision: int8\n',
    );
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ rounds: 5, minClients: 3 }));
    writeFileSync(join(dir, 'bad.yaml'), '- not\n- an object\n');
    const yaml = parseCoordinatorConfig(readConfigFile(join(dir, 'c.yaml')));
    assert.equal(yaml.rounds, 3);
    assert.equal(yaml.strategy, 'feddf');
    assert.equal(yaml.training.updatePrecision, 'int8');
    assert.equal(yaml.quorum, 0.5, 'defaults fill what the file leaves out');
    assert.equal(parseCoordinatorConfig(readConfigFile(join(dir, 'c.json'))).minClients, 3);
    assert.throws(() => readConfigFile(join(dir, 'bad.yaml')), /must hold an object/);
    assert.throws(() => parseCoordinatorConfig({ rounds: 0 }), /rounds/);
    assert.throws(() => parseCoordinatorConfig({ strategy: 'nope' }), /strategy/);
    assert.throws(() => parseCoordinatorConfig({ surprise: 1 }), /surprise/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every command has help that names its options', () => {
  const program = buildProgram();
  for (const [name, flag] of [
    ['serve', '--teacher'],
    ['join', '--server'],
    ['demo', '--clients'],
    ['partition', '--scheme'],
    ['join', '--validation-data'],
    ['serve', '--csv-label-column'],
  ] as const) {
    const command = program.commands.find((c) => c.name() === name);
    assert.ok(command, name);
    assert.match(command.helpInformation(), new RegExp(flag));
  }
});
