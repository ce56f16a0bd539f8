import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DirectoryCheckpoints } from '../../../server/checkpoints.js';
import { fileModelLoader } from '../../../node/modelFiles.js';
import { buildModel, getFlatWeights, mlpSpec } from '../../../shared/models/index.js';

test('checkpoints keep the newest `keep` rounds, prune folders left by an earlier process, and name the newest', async () => {
  const runDir = mkdtempSync(join(tmpdir(), 'fedistill-checkpoints-'));
  try {
    // A folder an earlier process left behind, older than anything saved here.
    mkdirSync(join(runDir, 'checkpoints', 'round-00001'), { recursive: true });
    const checkpoints = new DirectoryCheckpoints(runDir, 3);
    const model = buildModel(mlpSpec(4, [3], 2), 7);
    const before = tf.memory().numTensors;
    const list = (): string[] =>
      readdirSync(checkpoints.checkpointDir)
        .filter((name) => name.startsWith('round-'))
        .sort();
    await checkpoints.save(model, 2);
    assert.deepEqual(list(), ['round-00001', 'round-00002']);
    for (const round of [3, 4, 5]) await checkpoints.save(model, round);
    assert.deepEqual(list(), ['round-00003', 'round-00004', 'round-00005']);
    // Saving the same round again replaces it and prunes nothing more.
    await checkpoints.save(model, 5);
    assert.deepEqual(list(), ['round-00003', 'round-00004', 'round-00005']);
    await checkpoints.save(model, 6);
    assert.deepEqual(list(), ['round-00004', 'round-00005', 'round-00006']);
    const latest = JSON.parse(
      readFileSync(join(checkpoints.checkpointDir, 'latest.json'), 'utf8'),
    ) as {
      round: number;
      path: string;
    };
    assert.equal(latest.round, 6);
    assert.equal(latest.path, 'round-00006/model.json');
    assert.equal(existsSync(join(checkpoints.checkpointDir, latest.path)), true);
    // The newest checkpoint loads back with the model's weights.
    const loaded = await tf.loadLayersModel(
      fileModelLoader(join(checkpoints.checkpointDir, latest.path)),
    );
    assert.deepEqual(getFlatWeights(loaded), getFlatWeights(model));
    loaded.dispose();
    assert.equal(tf.memory().numTensors, before);
    model.dispose();
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
