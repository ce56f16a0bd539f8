/**
 * Secure aggregation with a browser in the round: the page in real headless
 * Chromium runs the key agreement, share sealing and masking with the
 * browser's own WebCrypto (ECDH P-256, HKDF, AES-GCM, AES-CTR), beside a
 * Node client; two rounds unmask with both clients, and the masks cancel
 * exactly — which they can only do if Chromium's and Node's WebCrypto agree
 * bit for bit on every derived key and keystream.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Browser } from 'playwright-core';
import { demoSplit } from '../../node/demo/demoSplit.js';
import { launchChromium } from './chromium.js';
import { nodeClient, startSmallCoordinator } from '../support/smallCoordinator.js';

test(
  'a browser and a Node client aggregate securely: the masks cancel across WebCrypto implementations',
  {
    timeout: 300_000,
  },
  async () => {
    const pageErrors: string[] = [];
    const coordinator = await startSmallCoordinator(
      'browser-secure',
      {
        rounds: 2,
        minClients: 2,
        waitForClientsMs: 120_000,
        roundTimeoutMs: 180_000,
        quorum: 1,
        secureAggregation: { phaseTimeoutMs: 60_000 },
      },
      { demoClients: 2 },
    );
    const { prepared, events } = coordinator;
    let browser: Browser | undefined;
    const node = nodeClient(coordinator.url, demoSplit({ clients: 2 }).shards[0]!);
    try {
      browser = await launchChromium();
      const page = await browser.newPage();
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.goto(`${coordinator.url}/client?shard=1&name=chromium`);
      await node.start();
      const result = await prepared.running.coordinator.run();
      const log = await page.locator('#log').innerText();

      assert.equal(result.status, 'completed', log);
      assert.deepEqual(
        result.rounds.map((r) => [r.round, r.status, r.participants]),
        [
          [1, 'aggregated', 2],
          [2, 'aggregated', 2],
        ],
        log,
      );
      const secure = events.filter((e) => e.type === 'round:secure');
      assert.deepEqual(
        secure.map((e) => [e.survivors, e.error]),
        [
          [2, undefined],
          [2, undefined],
        ],
      );
      const browserJoin = events.find(
        (e) => e.type === 'client:joined' && e.platform === 'browser',
      );
      assert.ok(browserJoin, 'the page joined');
      // Both clients' masked updates were accepted: the sum unmasked with the browser's in it.
      for (const roundId of [1, 2]) {
        const accepted = events.filter(
          (e) => e.type === 'update:accepted' && e.roundId === roundId,
        );
        assert.equal(accepted.length, 2, `round ${roundId}`);
      }
      // The averaged student is a trained model, not one thrown off by uncancelled masks (a mask
      // left in would move each weight by up to ±2048).
      const accuracy = result.rounds.at(-1)!.studentAccuracy!;
      assert.ok(accuracy > 0.5, `student accuracy ${accuracy}`);
      assert.deepEqual(pageErrors, []);
    } finally {
      node.stop();
      await browser?.close();
      await coordinator.close();
    }
  },
);
