/**
 * `join --student`: under a strategy where no weights travel (fedmd) each
 * real client process may train its own architecture, sized to the run's
 * data; under one that averages weights (fedkd) such a client is refused with
 * a clear message before it trains, instead of failing every round.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startSmallCoordinator } from '../support/smallCoordinator.js';
import { runCli } from './processes.js';

function join(url: string, shard: number, student?: string) {
  return runCli([
    'join',
    '--server',
    url,
    '--data',
    `demo:${shard}/4`,
    '--backend',
    'cpu',
    ...(student ? ['--student', student] : []),
  ]);
}

test('fedmd: a client with its own student takes part beside one with the run’s student', async () => {
  const coordinator = await startSmallCoordinator('own-student', {
    strategy: 'fedmd',
    rounds: 1,
    minClients: 2,
    logitExchange: { samples: 50 },
  });
  try {
    const own = join(coordinator.url, 0, 'mlp:24,12');
    const plain = join(coordinator.url, 1);
    const result = await coordinator.prepared.running.coordinator.run();
    const [ownExit, plainExit] = await Promise.all([own.exited, plain.exited]);
    assert.equal(result.status, 'completed');
    assert.equal(result.rounds[0]?.participants, 2, 'both clients sent predictions');
    assert.equal(ownExit.code, 0, ownExit.output);
    assert.equal(plainExit.code, 0, plainExit.output);
    assert.match(ownExit.output, /student: mlp-784-24-12-10/);
    assert.match(plainExit.output, /student: mlp-784-16-10/);
  } finally {
    await coordinator.close();
  }
});

test('fedkd: a client with its own student is refused at join, naming why', async () => {
  const coordinator = await startSmallCoordinator('own-student-refused', {
    strategy: 'fedkd',
    rounds: 1,
    minClients: 1,
  });
  try {
    const exit = await join(coordinator.url, 0, 'mlp:24').exited;
    assert.equal(exit.code, 1, exit.output);
    assert.match(exit.output, /strategy fedkd averages weights/);
  } finally {
    coordinator.prepared.running.coordinator.stop();
    await coordinator.close();
  }
});
