/**
 * Seeded simulations repeat exactly: the same config twice on worker threads,
 * and once more with every client on the main thread, give the same numbers
 * in every round, bit for bit — with half the clients sampled each round, so
 * sampling is covered too. Then the options that reshape a run: per-client
 * architectures under logit exchange, FedProx, a robust aggregator and a
 * server optimiser.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import type { RoundStart } from '../../shared/protocol/index.js';
import type { SimRoundMetrics } from '../../sim/results.js';
import { runSimulation } from '../../sim/simulate.js';
import { tinyConfig } from './tinyConfig.js';

/**
 * Everything a round reports except how long it took, and the update's size: updates carry
 * the client's training time, whose MessagePack encoding varies by a few bytes.
 */
function numbers(rounds: SimRoundMetrics[]): unknown[] {
  return rounds.map(({ durationMs: _d, bytesUpPerClient: _b, ...rest }) => rest);
}

test('a seeded simulation gives the same numbers twice, and the same without worker threads', async () => {
  const config = tinyConfig({
    strategy: ['fedavg', 'fedkd', 'feddf', 'local', 'fedmd', 'dsfl'],
    clients: 4,
    rounds: 3,
    participation: { fraction: 0.5, minClients: 2 },
    seeds: [3],
  });
  try {
    const first = await runSimulation({ config, writeOutputs: false });
    const second = await runSimulation({ config, writeOutputs: false });
    const inline = await runSimulation({ config: { ...config, workers: 0 }, writeOutputs: false });
    assert.equal(first.threads, 2);
    assert.equal(inline.threads, 0);
    const a = numbers(first.runs.flatMap((r) => r.rounds));
    assert.equal(a.length, 18);
    for (const r of first.runs) {
      assert.equal(r.status, 'completed', r.error);
      for (const m of r.rounds) assert.equal(m.sampled, 2);
    }
    assert.deepEqual(numbers(second.runs.flatMap((r) => r.rounds)), a);
    assert.deepEqual(numbers(inline.runs.flatMap((r) => r.rounds)), a);
    const up = (rounds: SimRoundMetrics[]) => rounds.map((m) => m.bytesUpPerClient);
    const upFirst = up(first.runs.flatMap((r) => r.rounds));
    up(second.runs.flatMap((r) => r.rounds)).forEach((bytes, i) =>
      assert.ok(Math.abs(bytes - upFirst[i]!) <= 16, `${bytes} vs ${upFirst[i]} bytes up`),
    );
  } finally {
    rmSync(config.cacheDir, { recursive: true, force: true });
  }
});

test('fedmd and dsfl run with two different student architectures side by side', async () => {
  const config = tinyConfig({
    strategy: ['fedmd', 'dsfl'],
    clientStudents: ['mlp:32', 'mlp:24,12'],
  });
  try {
    const result = await runSimulation({ config, writeOutputs: false });
    for (const r of result.runs) {
      assert.equal(r.status, 'completed', r.error);
      for (const m of r.rounds) {
        assert.equal(m.participants, config.clients);
        assert.ok(m.studentAccuracy !== null && m.studentAccuracy > 0);
      }
    }
  } finally {
    rmSync(config.cacheDir, { recursive: true, force: true });
  }
});

test('FedProx, a robust aggregator and a server optimiser reach the run', async () => {
  const config = tinyConfig({
    strategy: ['fedkd'],
    training: { proximalMu: 0.05, epochs: 1, batchSize: 16, learningRate: 0.003 },
    aggregator: { kind: 'median' },
    serverOptimizer: { kind: 'fedavgm', learningRate: 1, momentum: 0.5 },
  });
  const starts: RoundStart[] = [];
  try {
    const result = await runSimulation({
      config,
      writeOutputs: false,
      onMessage: (_strategy, _seed, message) => {
        if (message.event === 'round:start') starts.push(message.payload as RoundStart);
      },
    });
    const run = result.runs[0]!;
    assert.equal(run.status, 'completed', run.error);
    assert.equal(starts.length, config.clients * config.rounds);
    for (const s of starts) assert.equal(s.config.proximalMu, 0.05);
    assert.ok(run.rounds.at(-1)!.studentAccuracy! > 0.1);
  } finally {
    rmSync(config.cacheDir, { recursive: true, force: true });
  }
});
