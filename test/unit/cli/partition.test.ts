import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { partitionToFolders } from '../../../cli/partitionCommand.js';
import { loadDataSource } from '../../../node/data/source.js';
import { writeIdxDataset } from '../../../node/data/write.js';
import { runCli } from '../../integration/processes.js';

/** 400 4×4 images of 4 classes (100 each); pixel 0 of row i is i mod 256 / 255, so rows are traceable. */
function source(dir: string): void {
  const count = 400;
  const x = new Float32Array(count * 16);
  const y = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    y[i] = i % 4;
    x[i * 16] = (i % 256) / 255;
    x[i * 16 + 1] = Math.floor(i / 256) / 255;
    x[i * 16 + 2 + (i % 4)] = 1;
  }
  writeIdxDataset(dir, { x, y, count }, [4, 4, 1], 'train-');
  writeIdxDataset(dir, { x: x.slice(0, 160), y: y.slice(0, 10), count: 10 }, [4, 4, 1], 't10k-');
}

function rowId(x: Float32Array, row: number): number {
  return Math.round(x[row * 16]! * 255) + 256 * Math.round(x[row * 16 + 1]! * 255);
}

test('fedistill partition writes client folders that cover the source once, with the skew summary', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-partition-'));
  try {
    source(join(dir, 'src'));
    const out = join(dir, 'out');
    const run = runCli([
      'partition',
      '--data',
      `${join(dir, 'src')}:train`,
      '--out',
      out,
      '--clients',
      '4',
      '--scheme',
      'dirichlet',
      '--alpha',
      '0.1',
      '--min-per-client',
      '5',
      '--seed',
      '7',
    ]);
    const { code, output } = await run.exited;
    assert.equal(code, 0, output);
    assert.match(output, /label skew: mean TV \d\.\d{3}/);
    assert.match(output, /client {3}3: n=/);
    const folders = readdirSync(out).sort();
    assert.deepEqual(folders, [
      'client-000',
      'client-001',
      'client-002',
      'client-003',
      'partition.json',
    ]);
    const seen = new Set<number>();
    let total = 0;
    for (const folder of folders.slice(0, 4)) {
      const part = loadDataSource(join(out, folder));
      assert.deepEqual(part.inputShape, [4, 4, 1]);
      for (let r = 0; r < part.count; r++) {
        const id = rowId(part.x, r);
        assert.equal(part.y![r], id % 4, 'each row keeps its label');
        seen.add(id);
      }
      total += part.count;
    }
    assert.equal(total, 400);
    assert.equal(seen.size, 400, 'every source row is in exactly one folder');
    const record = JSON.parse(readFileSync(join(out, 'partition.json'), 'utf8')) as {
      scheme: unknown;
      seed: number;
      meanSkew: number;
      folders: { samples: number; classes: number[] }[];
    };
    assert.deepEqual(record.scheme, { kind: 'dirichlet', alpha: 0.1, minPerClient: 5 });
    assert.equal(record.seed, 7);
    // α = 0.1 on 4 balanced classes is far from IID.
    assert.ok(record.meanSkew > 0.3, `mean skew ${record.meanSkew}`);
    for (const f of record.folders)
      assert.equal(
        f.classes.reduce((a, b) => a + b, 0),
        f.samples,
      );

    // A folder with several splits needs one named; a non-empty --out is refused.
    const noSplit = await runCli([
      'partition',
      '--data',
      join(dir, 'src'),
      '--out',
      join(dir, 'o2'),
      '--clients',
      '2',
    ]).exited;
    assert.equal(noSplit.code, 1);
    assert.match(noSplit.output, /holds 2 splits: t10k .*, train .*choose one/);
    assert.throws(
      () =>
        partitionToFolders({
          data: `${join(dir, 'src')}:train`,
          out,
          clients: 2,
          scheme: { kind: 'iid' },
          log: () => undefined,
        }),
      /is not empty; give a new or empty folder/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('partition: subsample, per-client cap, IID and shards, seeded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-partition-'));
  try {
    source(join(dir, 'src'));
    const data = `${join(dir, 'src')}:train`;
    const iid = partitionToFolders({
      data,
      out: join(dir, 'iid'),
      clients: 5,
      scheme: { kind: 'iid' },
      subsample: 200,
      maxPerClient: 30,
      seed: 3,
      log: () => undefined,
    });
    // 200 samples in 5 IID parts of 40, each capped to 30.
    assert.deepEqual(iid.sizes, [30, 30, 30, 30, 30]);
    const again = partitionToFolders({
      data,
      out: join(dir, 'iid2'),
      clients: 5,
      scheme: { kind: 'iid' },
      subsample: 200,
      maxPerClient: 30,
      seed: 3,
      log: () => undefined,
    });
    assert.equal(again.table, iid.table, 'the same seed writes the same partition');
    assert.deepEqual(
      loadDataSource(join(dir, 'iid', 'client-002')).x,
      loadDataSource(join(dir, 'iid2', 'client-002')).x,
    );
    const shards = partitionToFolders({
      data,
      out: join(dir, 'shards'),
      clients: 4,
      scheme: { kind: 'shards', perClient: 1 },
      log: () => undefined,
    });
    // One label-sorted shard per client, 4 balanced classes: each client holds one class.
    for (const line of shards.table.split('\n').slice(1)) {
      const counts = line.split('|')[1]!.trim().split(/\s+/).map(Number);
      assert.equal(counts.filter((c) => c > 0).length, 1, line);
    }
    assert.throws(
      () =>
        partitionToFolders({
          data,
          out: join(dir, 'too-many'),
          clients: 2,
          scheme: { kind: 'iid' },
          subsample: 401,
          log: () => undefined,
        }),
      /--subsample 401 is more than the 400 samples/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
