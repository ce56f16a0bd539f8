/** A simulation small enough for the test suite: 1,000 digits, 4 clients, tiny models. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SimConfig, SimConfigInput } from '../../sim/config.js';
import { parseSimConfig } from '../../sim/config.js';

export function tinyConfig(overrides: SimConfigInput = {}): SimConfig {
  return parseSimConfig({
    name: 'test',
    cacheDir: mkdtempSync(join(tmpdir(), 'fedistill-sim-cache-')),
    data: { total: 1000 },
    clients: 4,
    rounds: 2,
    partition: { kind: 'dirichlet', alpha: 0.5 },
    teacher: { spec: 'mlp:64', epochs: 2 },
    student: 'mlp:32',
    training: { epochs: 1, batchSize: 16, learningRate: 0.003 },
    logitExchange: { samples: 100 },
    workers: 2,
    ...overrides,
  });
}
