/**
 * A run on image class folders (cat, dog, fish) and `fedistill join` clients whose folders lack a
 * class: the client takes the run's class indices from the coordinator (GET /api/status
 * `classNames`) instead of its own sorted folder names, and a client with a class folder the run
 * does not have abstains as for a data mismatch (exit 3), recorded at the coordinator.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareCoordinator, runAndSummarize } from '../../cli/coordinatorSetup.js';
import { JOIN_EXIT } from '../../cli/joinCommand.js';
import { grey, writePng } from '../support/imageFiles.js';
import { smallTraining } from '../support/smallRun.js';
import { runCli } from './processes.js';

const CLASSES = ['cat', 'dog', 'fish'];

/** `count` 4×4 grey PNGs of class `label` in `dir/name/`: the class's level plus a small pattern. */
function writeClass(dir: string, name: string, label: number, count: number): void {
  for (let n = 0; n < count; n++)
    writePng(
      join(dir, name, `${n}.png`),
      4,
      4,
      (r, c) => grey(40 + 80 * label + ((n + r + c) % 5)),
      true,
    );
}

test('join clients take the run’s class indices from the coordinator; an unknown class folder abstains', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-image-classes-'));
  try {
    const sources = join(dir, 'sources');
    CLASSES.forEach((name, label) => {
      writeClass(join(sources, 'train'), name, label, 12);
      writeClass(join(sources, 'test'), name, label, 4);
    });
    for (let n = 0; n < 24; n++)
      writePng(join(dir, 'proxy', `${n}.png`), 4, 4, (r, c) => grey((n * 10 + r + c) % 256), true);
    // A non-IID client without dog (fish must stay 2), and one with a class the run lacks.
    writeClass(join(dir, 'nodog'), 'cat', 0, 8);
    writeClass(join(dir, 'nodog'), 'fish', 2, 8);
    writeClass(join(dir, 'bird'), 'bird', 1, 8);
    writeClass(join(dir, 'bird'), 'cat', 0, 8);
    const prepared = await prepareCoordinator({
      config: {
        port: 0,
        dataDir: join(dir, 'coordinator'),
        rounds: 1,
        minClients: 1,
        waitForClientsMs: 60_000,
        roundTimeoutMs: 240_000,
        quorum: 1,
        training: smallTraining(),
      },
      backend: 'cpu',
      teacherSpec: 'mlp:8',
      teacherEpochs: 1,
      student: 'mlp:8',
      proxyData: join(dir, 'proxy'),
      testData: `${sources}:test`,
      teacherData: `${sources}:train`,
      log: () => undefined,
    });
    const clients: { kill: () => void }[] = [];
    try {
      const url = prepared.running.url;
      const join2 = (data: string, name: string) => {
        const client = runCli([
          'join',
          '--server',
          url,
          '--data',
          data,
          '--backend',
          'cpu',
          '--cache-dir',
          join(dir, `cache-${name}`),
          '--name',
          name,
        ]);
        clients.push(client);
        return client;
      };
      // The mismatched client first: it abstains, and the round waits for the other.
      const bird = await join2(join(dir, 'bird'), 'bird').exited;
      assert.equal(bird.code, JOIN_EXIT.dataMismatch, bird.output);
      assert.match(
        bird.output,
        /class folder 'bird' of the private data are not among the run's classes \(cat, dog, fish\)/,
      );
      const nodog = join2(join(dir, 'nodog'), 'nodog');
      const { result } = await runAndSummarize(prepared, join(dir, 'summary.json'));
      const exit = await nodog.exited;
      assert.equal(exit.code, 0, exit.output);
      assert.match(
        exit.output,
        /labels by class folder \(the run's, from the coordinator\): 0 cat, 2 fish/,
      );
      assert.equal(result.status, 'completed');
      const reasons = prepared.running.store
        .updates(result.runId)
        .map((u) => `${u.status} ${u.reason?.split(':')[0] ?? ''}`);
      assert.ok(reasons.includes('rejected abstained'), reasons.join('; '));
      assert.ok(reasons.includes('accepted '), reasons.join('; '));
    } finally {
      for (const client of clients) client.kill();
      await prepared.running.close();
      prepared.teacher.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
