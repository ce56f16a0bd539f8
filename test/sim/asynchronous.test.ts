/**
 * fedbuff in the simulator with the latency model: one client of four is so
 * slow that its update would take an hour to arrive. The run's aggregations
 * go on without it — it could not finish within the test's timeout otherwise
 * — and each round records the staleness of what it aggregated.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, test } from 'node:test';
import type { TappedMessage } from '../../sim/simHub.js';
import { runSimulation } from '../../sim/simulate.js';
import { tinyConfig } from './tinyConfig.js';

const config = tinyConfig({
  strategy: 'fedbuff',
  rounds: 3,
  fedbuff: { bufferSize: 3, maxStaleness: 50 },
  slowClients: { fraction: 0.25, updateDelayMs: 3_600_000 },
});
after(() => rmSync(config.cacheDir, { recursive: true, force: true }));

test(
  'simulate fedbuff: a client an hour slow holds no aggregation; staleness per round',
  { timeout: 240_000 },
  async () => {
    const messages: TappedMessage[] = [];
    const result = await runSimulation({
      config,
      writeOutputs: false,
      onMessage: (_strategy, _seed, message) => messages.push(message),
    });
    const [run] = result.runs;
    assert.equal(run!.status, 'completed', run!.error);
    assert.deepEqual(
      run!.rounds.map((r) => [r.status, r.participants]),
      [
        ['aggregated', 3],
        ['aggregated', 3],
        ['aggregated', 3],
      ],
    );
    const senders = new Set(
      messages.filter((m) => m.direction === 'up' && m.event === 'update').map((m) => m.clientId),
    );
    assert.ok(!senders.has('c0000'), 'the slow client (index 0) never got an update in');
    assert.equal(senders.size, 3);
    for (const round of run!.rounds) {
      assert.ok(round.maxStaleness !== undefined && round.meanStaleness !== undefined);
      assert.ok(round.meanStaleness! <= round.maxStaleness!);
    }
  },
);
