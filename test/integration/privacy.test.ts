/**
 * Client-side differential privacy end to end: clients clip and noise their
 * deltas before sending, and every round's record carries the ε spent,
 * computed by the RDP accountant for noise multiplier σ/2 over the rounds the
 * busiest client took part in.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { prepareCoordinator } from '../../cli/coordinatorSetup.js';
import { FedClient } from '../../client/fedClient.js';
import { SocketTransport } from '../../client/socketTransport.js';
import { demoSplit } from '../../node/demo/demoSplit.js';
import { fileModelLoader } from '../../node/modelFiles.js';
import { buildModel, computeEpsilon, getFlatWeights } from '../../shared/index.js';
import { roundFolder } from '../../server/checkpoints.js';
import { SMALL_MODELS, smallTraining } from '../support/smallRun.js';

test('noised updates move the model by the noise, and ε is reported per round', async () => {
  await tf.setBackend('cpu');
  const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-privacy-'));
  const prepared = await prepareCoordinator({
    config: {
      port: 0,
      dataDir,
      rounds: 2,
      minClients: 2,
      privacy: { clipNorm: 1, noiseMultiplier: 1, delta: 1e-5 },
      training: smallTraining({ updatePrecision: 'float32' }),
    },
    backend: 'cpu',
    ...SMALL_MODELS,
    log: () => undefined,
  });
  const shards = demoSplit({ clients: 2 }).shards;
  const clients = shards.map(
    (data) =>
      new FedClient({
        transport: new SocketTransport({ url: prepared.running.url }),
        data,
        platform: 'node',
        backend: 'cpu',
      }),
  );
  try {
    await Promise.all(clients.map((c) => c.start()));
    const result = await prepared.running.coordinator.run();
    assert.equal(result.status, 'completed');
    const [first, second] = result.rounds;
    // Each client took part in every round: steps = 1, then 2, at σ/2 = 0.5.
    assert.equal(
      first!.privacyEpsilon,
      computeEpsilon({ noiseMultiplier: 0.5, samplingRate: 1, steps: 1, delta: 1e-5 }).epsilon,
    );
    assert.equal(
      second!.privacyEpsilon,
      computeEpsilon({ noiseMultiplier: 0.5, samplingRate: 1, steps: 2, delta: 1e-5 }).epsilon,
    );
    assert.ok(second!.privacyEpsilon! > first!.privacyEpsilon!);

    // Round 1's global = initial + mean of two deltas, each clipped to norm ≤ 1 plus N(0, 1) per
    // coordinate: the noise of the mean has norm ≈ √(d/2) for d weights, far above the clipped signal.
    const initial = getFlatWeights(buildModel(prepared.studentSpec, 1));
    const model = await tf.loadLayersModel(
      fileModelLoader(
        join(prepared.running.checkpoints.checkpointDir, roundFolder(1), 'model.json'),
      ),
    );
    const after = getFlatWeights(model);
    model.dispose();
    let sq = 0;
    for (let i = 0; i < after.length; i++) sq += (after[i]! - initial[i]!) ** 2;
    const expected = Math.sqrt(after.length / 2);
    assert.ok(
      Math.abs(Math.sqrt(sq) - expected) < 0.1 * expected + 1,
      `moved ${Math.sqrt(sq)}, noise alone ≈ ${expected}`,
    );
  } finally {
    for (const client of clients) client.stop();
    await prepared.running.close();
    prepared.teacher.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
