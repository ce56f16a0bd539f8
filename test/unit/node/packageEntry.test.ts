import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// By package name, as a user's code imports it (package.json "exports" self-reference).
import { loadDataSource, selectNodeBackend, writeIdxDataset } from 'fedistill/node';
import { createRng, partitionIid } from 'fedistill';

test('fedistill/node resolves by package name to the Node loaders and backends', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-entry-'));
  try {
    const data = { x: Float32Array.from([0, 1, 0.5, 0.25]), y: Uint8Array.of(1, 0), count: 2 };
    writeIdxDataset(dir, data, [2]);
    const loaded = loadDataSource(dir);
    assert.deepEqual(loaded.x, data.x);
    assert.deepEqual(loaded.inputShape, [2]);
    assert.equal(partitionIid(loaded.y!, 2, createRng(1)).length, 2);
    const backend = await selectNodeBackend({ force: 'cpu', log: () => undefined });
    assert.equal(backend.name, 'cpu');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
