/**
 * `fedistill simulate` on a folder of PNG images in class folders, named in the YAML
 * as `data.source`: the images are split, a teacher trains on them, the clients
 * distil, and the run's data line records the folder's class mapping.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createRng } from '../../shared/data/index.js';
import { readSimConfigFile } from '../../sim/config.js';
import { runSimulation } from '../../sim/simulate.js';
import { grey, writePng } from '../support/imageFiles.js';

test('simulate reads an image folder named in the YAML: 8×8 PNGs in two class folders', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-sim-images-'));
  try {
    const images = join(dir, 'shapes');
    const rng = createRng(5);
    // left/: the left half bright; right/: the right half; noise on both.
    for (const [label, name] of ['left', 'right'].entries())
      for (let n = 0; n < 80; n++)
        writePng(
          join(images, name, `${String(n).padStart(3, '0')}.png`),
          8,
          8,
          (_r, c) => grey(Math.round((c < 4 === (label === 0) ? 180 : 40) + rng.next() * 60)),
          true,
        );
    const yaml = join(dir, 'images.yaml');
    writeFileSync(
      yaml,
      [
        'name: images-test',
        `cacheDir: ${JSON.stringify(join(dir, 'cache'))}`,
        `data: { source: ${JSON.stringify(images)}, total: 160 }`,
        'clients: 2',
        'rounds: 2',
        'partition: { kind: iid }',
        "teacher: { spec: 'mlp:16', epochs: 3 }",
        "student: 'mlp:8'",
        'strategy: fedkd',
        'training: { epochs: 2, batchSize: 8, learningRate: 0.01 }',
        'workers: 0',
      ].join('\n'),
    );
    const result = await runSimulation({ config: readSimConfigFile(yaml), writeOutputs: false });
    const run = result.runs[0]!;
    assert.equal(run.status, 'completed', run.error);
    assert.deepEqual(result.data.inputShape, [8, 8, 1]);
    assert.equal(result.data.numClasses, 2);
    assert.deepEqual(result.data.classNames, ['left', 'right']);
    assert.match(result.data.origin, /; classes 0 left, 1 right$/);
    assert.ok(result.teacher.accuracy > 0.9, `teacher accuracy ${result.teacher.accuracy}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
