/**
 * A browser edge client in real headless Chromium beside a Node client
 * process, both training in the same rounds of one coordinator (embedded
 * MNIST split, demo shards). The browser page is reloaded mid-run: it must
 * rejoin as the same client (localStorage id), take its artifacts from
 * IndexedDB, and still have its updates counted. The dashboard must show both
 * clients and charts with a point per round. Screenshots of both pages go to
 * test-output/browser/.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import type { Browser, Page } from 'playwright-core';
import { prepareCoordinator, type PreparedCoordinator } from '../../cli/coordinatorSetup.js';
import type { CoordinatorEvent, RunResult } from '../../server/coordinator.js';
import type { DashboardSnapshot } from '../../server/dashboard/snapshot.js';
import { runCli, type CliProcess } from '../integration/processes.js';
import { launchChromium } from './chromium.js';
import { SMALL_MODELS, smallTraining } from '../support/smallRun.js';

const TOKEN = 'browser-secret';
const OUT = join('test-output', 'browser');
const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-browser-'));
const events: CoordinatorEvent[] = [];
const pageErrors: string[] = [];
let prepared: PreparedCoordinator;
let browser: Browser | undefined;
let nodeClient: CliProcess | undefined;
let dashboard: Page;
let clientPage: Page;
let result: RunResult;

async function until(what: string, check: () => boolean, timeoutMs = 120_000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function pageDataset(page: Page, id: string): Promise<Record<string, string | undefined>> {
  return page.evaluate((elementId) => ({ ...document.getElementById(elementId)?.dataset }), id);
}

/** What happened, for a failure message: coordinator events and the client page's log. */
async function diagnostics(): Promise<string> {
  const lines = events.map((e) =>
    e.type === 'round:closed'
      ? `round:closed ${e.record.round} ${e.record.status} ${e.record.participants}/${e.record.sampled}`
      : `${e.type} ${JSON.stringify({ ...e, type: undefined })}`,
  );
  const pageLog = await clientPage
    ?.locator('#log')
    .innerText({ timeout: 2000 })
    .catch(() => '(no client page log)');
  return `coordinator events:\n${lines.join('\n')}\nclient page log:\n${pageLog}`;
}

before(
  async () => {
    try {
      await runEverything();
    } catch (error) {
      await dashboard
        ?.screenshot({ path: join(OUT, 'dashboard-failed.png') })
        .catch(() => undefined);
      await clientPage?.screenshot({ path: join(OUT, 'client-failed.png') }).catch(() => undefined);
      throw new Error(`${(error as Error).message}\n${await diagnostics()}`, { cause: error });
    }
  },
  { timeout: 420_000 },
);

async function runEverything(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  prepared = await prepareCoordinator({
    config: {
      port: 0,
      dataDir,
      rounds: 2,
      minClients: 2,
      waitForClientsMs: 120_000,
      roundTimeoutMs: 180_000,
      quorum: 1,
      tokens: [TOKEN],
      training: smallTraining(),
    },
    backend: 'cpu',
    ...SMALL_MODELS,
    demoClients: 2,
    log: () => undefined,
    onEvent: (event) => events.push(event),
  });
  const url = prepared.running.url;
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.on('weberror', (error) => pageErrors.push(error.error().message));
  dashboard = await context.newPage();
  await dashboard.goto(`${url}/`);
  clientPage = await context.newPage();
  await clientPage.goto(`${url}/client?token=${TOKEN}&shard=1&name=chromium`);
  nodeClient = runCli([
    'join',
    '--server',
    url,
    '--data',
    'demo:0/2',
    '--token',
    TOKEN,
    '--backend',
    'wasm',
    '--name',
    'node-0',
    '--cache-dir',
    join(dataDir, 'node-cache'),
  ]);
  const run = prepared.running.coordinator.run();
  // Reload the browser client once round 1 is under way and its artifacts are cached.
  await until('round 1 to start', () =>
    events.some((e) => e.type === 'round:started' && e.roundId === 1),
  );
  await clientPage.waitForFunction(
    () => document.getElementById('client')?.dataset.artifactsFromCache !== undefined,
    undefined,
    { timeout: 120_000 },
  );
  await clientPage.reload();
  result = await run;
  const exit = await nodeClient.exited;
  assert.equal(exit.code, 0, `node client failed:\n${exit.output}`);
  await clientPage.waitForFunction(
    () => document.getElementById('client')?.dataset.state === 'ended',
    undefined,
    { timeout: 30_000 },
  );
  await dashboard.waitForFunction(
    () =>
      document.getElementById('dashboard')?.dataset.state === 'completed' &&
      document.getElementById('accuracy-chart')?.dataset.rounds === '1,2',
    undefined,
    { timeout: 30_000 },
  );
  await dashboard.screenshot({ path: join(OUT, 'dashboard.png'), fullPage: true });
  await clientPage.screenshot({ path: join(OUT, 'client.png'), fullPage: true });
}

after(async () => {
  await browser?.close();
  nodeClient?.kill();
  await prepared?.running.close();
  prepared?.teacher.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

function browserJoins() {
  return events.filter(
    (e): e is Extract<CoordinatorEvent, { type: 'client:joined' }> =>
      e.type === 'client:joined' && e.platform === 'browser',
  );
}

test('a browser client and a Node client complete two rounds together', () => {
  assert.equal(result.status, 'completed');
  assert.deepEqual(
    result.rounds.map((r) => [r.round, r.status, r.participants]),
    [
      [1, 'aggregated', 2],
      [2, 'aggregated', 2],
    ],
  );
  const joins = browserJoins();
  assert.ok(joins.length >= 2, `the reloaded page joined again (${joins.length} browser joins)`);
  assert.equal(new Set(joins.map((j) => j.clientId)).size, 1, 'the reload kept the client id');
  assert.ok(joins.at(-1)!.rejoin, 'the second join was a rejoin');
  assert.ok(
    ['webgpu', 'webgl', 'wasm', 'cpu'].includes(joins[0]!.backend),
    `browser backend ${joins[0]!.backend}`,
  );
  assert.deepEqual(pageErrors, [], 'no uncaught errors in the pages');
});

test("the browser's updates are accepted and counted in each round's aggregate", () => {
  const browserId = browserJoins()[0]!.clientId;
  for (const roundId of [1, 2]) {
    assert.ok(
      events.some(
        (e) => e.type === 'update:accepted' && e.roundId === roundId && e.clientId === browserId,
      ),
      `browser update accepted in round ${roundId}`,
    );
  }
  const db = new Database(join(dataDir, 'fedistill.sqlite'), { readonly: true });
  try {
    const rows = db
      .prepare(
        `SELECT u.round AS round, c.platform AS platform FROM updates u
         JOIN clients c ON c.id = u.client_id AND c.run_id = u.run_id
         WHERE u.run_id = ? AND u.status = 'accepted' ORDER BY u.round, c.platform`,
      )
      .all(result.runId) as { round: number; platform: string }[];
    assert.deepEqual(
      rows.map((r) => `${r.round}:${r.platform}`),
      ['1:browser', '1:node', '2:browser', '2:node'],
    );
  } finally {
    db.close();
  }
});

test('the reloaded client page took its artifacts from IndexedDB and shows the run ended', async () => {
  const data = await pageDataset(clientPage, 'client');
  assert.equal(data.state, 'ended');
  assert.equal(data.artifactsFromCache, 'true', 'proxy set and soft labels came from IndexedDB');
  assert.equal(data.clientId, browserJoins()[0]!.clientId);
  assert.ok(
    Number(data.roundsAccepted) >= 1,
    `rounds accepted after reload: ${data.roundsAccepted}`,
  );
  const rows = await clientPage.locator('#rounds tbody tr').count();
  assert.ok(rows >= 1, 'the rounds table has rows');
});

test('the dashboard shows both clients and a chart point for each round', async () => {
  const data = await pageDataset(dashboard, 'dashboard');
  assert.equal(data.state, 'completed');
  assert.equal(data.clients, '2');
  const clients = await dashboard.locator('#clients tbody tr').allInnerTexts();
  assert.equal(clients.length, 2);
  assert.ok(
    clients.some((row) => row.includes('browser') && row.includes('chromium')),
    clients.join('\n'),
  );
  assert.ok(
    clients.some((row) => row.includes('node') && row.includes('node-0')),
    clients.join('\n'),
  );
  for (const chart of ['accuracy-chart', 'loss-chart']) {
    assert.equal(await dashboard.locator(`#${chart}`).getAttribute('data-rounds'), '1,2');
  }
  const updates = await dashboard.locator('#updates tbody tr').count();
  assert.equal(updates, 4, 'two accepted updates per round');
  // The same data as JSON.
  const response = await fetch(`${prepared.running.url}/api/dashboard`);
  const snapshot = (await response.json()) as DashboardSnapshot;
  assert.deepEqual(snapshot.clients.map((c) => c.platform).sort(), ['browser', 'node']);
  assert.equal(snapshot.totals.accepted, 4);
  assert.equal(snapshot.rounds.length, 2);
});
