/**
 * A coordinator on data sources given as files (an unlabelled CSV proxy set, a chosen
 * split of an IDX folder for test and teacher data, all cut from Fashion-MNIST), Node
 * clients that join with folders written by `fedistill partition` and report
 * validation accuracy (held out, or a folder) under the `local` strategy, and the
 * summary.json that records how the run was set up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareCoordinator, runAndSummarize } from '../../cli/coordinatorSetup.js';
import { partitionToFolders } from '../../cli/partitionCommand.js';
import { loadDataSource, requireLabels } from '../../node/data/source.js';
import { writeIdxDataset } from '../../node/data/write.js';
import { subset } from '../../shared/data/dataset.js';
import type { RunSummary } from '../../server/summary.js';
import { smallTraining } from '../support/smallRun.js';
import { runCli } from './processes.js';

function range(start: number, end: number): Int32Array {
  return Int32Array.from({ length: end - start }, (_, i) => start + i);
}

/** Fashion-MNIST test images cut into the files a user would have. */
function writeSources(dir: string): void {
  const fashion = loadDataSource('fashion-mnist:test');
  const all = requireLabels(fashion, 'fashion');
  const pool = join(dir, 'pool');
  writeIdxDataset(pool, subset(all, range(0, 400)), fashion.inputShape, 'train-');
  writeIdxDataset(pool, subset(all, range(400, 600)), fashion.inputShape, 't10k-');
  // Proxy inputs without labels: one CSV row of 784 pixel values (0..255) per image.
  const proxyRows: string[] = [];
  for (let r = 600; r < 800; r++) {
    proxyRows.push(
      Array.from(all.x.subarray(r * 784, (r + 1) * 784), (v) => Math.round(v * 255)).join(','),
    );
  }
  mkdirSync(join(dir, 'proxy'));
  writeFileSync(join(dir, 'proxy', 'proxy.csv'), `${proxyRows.join('\n')}\n`);
  writeIdxDataset(
    join(dir, 'private'),
    subset(all, range(800, 1200)),
    fashion.inputShape,
    'train-',
  );
  writeIdxDataset(join(dir, 'validation'), subset(all, range(1200, 1300)), fashion.inputShape);
}

test('serve on file sources, join with partitioned folders and validation data: every client reports accuracy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-datasources-'));
  try {
    writeSources(dir);
    const partition = partitionToFolders({
      data: join(dir, 'private'),
      out: join(dir, 'clients'),
      clients: 2,
      scheme: { kind: 'dirichlet', alpha: 1, minPerClient: 50 },
      seed: 1,
      log: () => undefined,
    });
    const prepared = await prepareCoordinator({
      config: {
        port: 0,
        dataDir: join(dir, 'coordinator'),
        rounds: 2,
        minClients: 2,
        waitForClientsMs: 60_000,
        roundTimeoutMs: 240_000,
        quorum: 1,
        strategy: 'local',
        training: smallTraining(),
      },
      backend: 'cpu',
      teacherSpec: 'mlp:32',
      teacherEpochs: 1,
      student: 'mlp:16',
      proxyData: join(dir, 'proxy'),
      testData: `${join(dir, 'pool')}:test`,
      teacherData: `${join(dir, 'pool')}:train`,
      dataFlags: { csvNormalize: 255 },
      log: () => undefined,
    });
    const url = prepared.running.url;
    const clients = [
      runCli([
        'join',
        '--server',
        url,
        '--data',
        partition.folders[0]!,
        '--validation-fraction',
        '0.25',
        '--backend',
        'cpu',
        '--cache-dir',
        join(dir, 'cache-0'),
        '--name',
        'held-out',
      ]),
      runCli([
        'join',
        '--server',
        url,
        '--data',
        partition.folders[1]!,
        '--validation-data',
        join(dir, 'validation'),
        '--backend',
        'cpu',
        '--cache-dir',
        join(dir, 'cache-1'),
        '--name',
        'folder',
      ]),
    ];
    try {
      const summaryPath = join(dir, 'summary.json');
      const { result } = await runAndSummarize(prepared, summaryPath);
      const exits = await Promise.all(clients.map((c) => c.exited));
      for (const exit of exits) assert.equal(exit.code, 0, exit.output);
      assert.equal(result.status, 'completed');
      // `local` has no global model: each round's accuracy is the clients' validation accuracy.
      assert.equal(result.rounds.length, 2);
      for (const round of result.rounds) {
        assert.equal(round.status, 'aggregated');
        assert.ok(
          round.studentAccuracy !== null && round.studentAccuracy > 0.1,
          `round ${round.round}: ${round.studentAccuracy}`,
        );
      }
      const [heldOut, folder] = exits;
      const held = Math.round(partition.sizes[0]! * 0.25);
      assert.match(heldOut!.output, new RegExp(`validation ${held} held out of the private data`));
      assert.match(folder!.output, /validation 100 from .*validation/);
      for (const exit of exits) {
        assert.equal(
          (exit.output.match(/validation accuracy \d+\.\d\d%/g) ?? []).length,
          2,
          exit.output,
        );
      }

      const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as RunSummary & {
        configuration: {
          coordinator: Record<string, unknown>;
          data: {
            proxy: { labelled: boolean; count: number; origin: string };
            test: { origin: string; count: number };
            teacher: { count: number };
            inputShape: number[];
            numClasses: number;
          };
          teacher: Record<string, unknown>;
        };
      };
      assert.equal(summary.strategy, 'local');
      assert.equal(summary.configuration.coordinator.strategy, 'local');
      assert.equal(summary.configuration.coordinator.rounds, 2);
      assert.equal(summary.configuration.coordinator.tokens, '[none]');
      assert.deepEqual(summary.configuration.coordinator.training, smallTraining());
      assert.equal(summary.configuration.studentSpec.name, 'mlp-784-16-10');
      assert.deepEqual(summary.configuration.data.inputShape, [28, 28, 1]);
      assert.equal(summary.configuration.data.numClasses, 10);
      assert.equal(summary.configuration.data.proxy.labelled, false);
      assert.equal(summary.configuration.data.proxy.count, 200);
      assert.match(summary.configuration.data.test.origin, /t10k-images-idx3-ubyte/);
      assert.equal(summary.configuration.data.test.count, 200);
      assert.equal(summary.configuration.data.teacher.count, 400);
      assert.deepEqual(summary.configuration.teacher, { default: 'mlp:32', epochs: 1 });
    } finally {
      for (const client of clients) client.kill();
      await prepared.running.close();
      prepared.teacher.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve refuses data options that cannot work, naming the flag and the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-datasources-'));
  try {
    writeSources(dir);
    const setup = {
      config: { port: 0, dataDir: join(dir, 'coordinator') },
      backend: 'cpu',
      teacherSpec: 'mlp:8',
      teacherEpochs: 1,
      log: () => undefined,
    };
    // --teacher-data alone is refused (it used to train on embedded MNIST instead, even for a missing folder).
    const alone = runCli([
      'serve',
      '--teacher-data',
      join(dir, 'nowhere'),
      '--port',
      '0',
      '--data-dir',
      join(dir, 'cli'),
    ]);
    const refused = await alone.exited;
    assert.equal(refused.code, 1);
    assert.match(
      refused.output,
      /--teacher-data .*nowhere also needs --proxy-data and --test-data/,
    );
    assert.doesNotMatch(refused.output, /embedded MNIST \(real digits\)/);
    await assert.rejects(
      prepareCoordinator({
        ...setup,
        teacher: join(dir, 'model.json'),
        teacherData: join(dir, 'pool'),
      }),
      /--teacher-data .*pool trains the default teacher, but --teacher .*model\.json loads one/,
    );
    // A folder with two splits is not read as its train split silently.
    await assert.rejects(
      prepareCoordinator({ ...setup, proxyData: join(dir, 'proxy'), testData: join(dir, 'pool') }),
      /pool holds 2 splits: t10k .*, train .*choose one: .*pool:t10k or .*pool:train/,
    );
    await assert.rejects(
      prepareCoordinator({
        ...setup,
        proxyData: join(dir, 'proxy'),
        testData: `${join(dir, 'pool')}:test`,
        teacherData: join(dir, 'nowhere'),
      }),
      /nowhere: no such folder/,
    );
    // Proxy rows of another size than the test images.
    mkdirSync(join(dir, 'narrow'));
    writeFileSync(join(dir, 'narrow', 'data.csv'), '1,2,3\n4,5,6\n');
    await assert.rejects(
      prepareCoordinator({
        ...setup,
        proxyData: join(dir, 'narrow'),
        testData: `${join(dir, 'pool')}:test`,
      }),
      /--proxy-data .*narrow.* has 2 inputs, but --test-data .*t10k-images.* has 28×28×1/,
    );
    // A student spec that does not take the data's samples.
    const spec = join(dir, 'student.json');
    writeFileSync(
      spec,
      JSON.stringify({
        name: 'wide',
        inputShape: [100],
        layers: [{ type: 'dense', units: 4, activation: 'relu' }],
        numClasses: 10,
      }),
    );
    await assert.rejects(
      prepareCoordinator({
        ...setup,
        student: spec,
        proxyData: join(dir, 'proxy'),
        testData: `${join(dir, 'pool')}:test`,
        teacherData: `${join(dir, 'pool')}:train`,
        dataFlags: { csvNormalize: 255 },
      }),
      /--test-data .*t10k-images.* has 28×28×1 = 784 values per sample, but the student wide takes 100 = 100/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
