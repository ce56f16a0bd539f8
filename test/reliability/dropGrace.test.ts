/**
 * A sampled client that disconnects mid-round and does not come back within
 * `dropGraceMs` stops holding the round open: once everyone else has
 * answered, the round closes long before its deadline, under the quorum rule.
 * One that comes back within the grace is still waited for (the reconnect
 * test in test/integration/federation.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FedClient } from '../../client/fedClient.js';
import { demoSplit } from '../../node/demo/demoSplit.js';
import { nodeClient, startSmallCoordinator } from '../support/smallCoordinator.js';

const ROUND_TIMEOUT_MS = 600_000;

test(
  'a client gone for longer than dropGraceMs no longer holds the round to its deadline',
  { timeout: 120_000 },
  async () => {
    const coordinator = await startSmallCoordinator('grace', {
      rounds: 2,
      minClients: 3,
      waitForClientsMs: 100,
      roundTimeoutMs: ROUND_TIMEOUT_MS,
      dropGraceMs: 300,
    });
    const clients: FedClient[] = demoSplit({ clients: 3 }).shards.map((data, i) =>
      nodeClient(coordinator.url, data, {
        // Client 2 leaves for good as soon as it is sampled.
        onEvent: (event) => {
          if (i === 2 && event.type === 'round:start') clients[2]!.stop();
        },
      }),
    );
    try {
      await Promise.all(clients.map((c) => c.start()));
      const result = await coordinator.prepared.running.coordinator.run();
      assert.equal(result.status, 'completed');
      const [first, second] = result.rounds;
      assert.deepEqual([first!.status, first!.sampled, first!.participants], ['aggregated', 3, 2]);
      // Closed by the grace, not the deadline ten minutes away.
      assert.ok(first!.durationMs < ROUND_TIMEOUT_MS, `round 1 took ${first!.durationMs} ms`);
      assert.deepEqual(
        [second!.status, second!.sampled, second!.participants],
        ['aggregated', 2, 2],
      );
    } finally {
      for (const client of clients) client.stop();
      await coordinator.close();
    }
  },
);
