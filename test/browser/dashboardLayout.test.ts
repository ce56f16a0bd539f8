/**
 * The dashboard and the client page in real headless Chromium, at a phone's
 * 390×844 and at 1400×900, around a real short run: a browser client (at
 * phone width) and a Node client train two rounds; beside the run's SQLite
 * history sits a real `simulate` result folder (fedkd and fedavg).
 *
 * Checked: no horizontal overflow on either page at either width; the client
 * page's final state, which stays after the connection closes; the per-client
 * view (label histogram from the join's labelCounts, local metrics per
 * round); a history overlay of this run and a simulated one; the end-of-run
 * summary and the student's download, loaded back with tf.loadLayersModel.
 * Screenshots go to a temporary folder the test prints.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { prepareCoordinator, runAndSummarize } from '../../cli/coordinatorSetup.js';
import type { PreparedCoordinator } from '../../cli/coordinatorSetup.js';
import type { CoordinatorEvent } from '../../server/coordinator.js';
import type { DashboardSnapshot } from '../../server/dashboard/snapshot.js';
import type { RunSummary } from '../../server/summary.js';
import { runSimulation } from '../../sim/simulate.js';
import { runCli, type CliProcess } from '../integration/processes.js';
import { tinyConfig } from '../sim/tinyConfig.js';
import { SMALL_MODELS, smallTraining } from '../support/smallRun.js';
import { launchChromium } from './chromium.js';

const TOKEN = 'layout-secret';
const PHONE = { width: 390, height: 844 };
const WIDE = { width: 1400, height: 900 };
const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-dashboard-layout-'));
const simDir = join(dataDir, 'sim-results');
const SCREENSHOTS = mkdtempSync(join(tmpdir(), 'fedistill-screenshots-'));
const events: CoordinatorEvent[] = [];
const pageErrors: string[] = [];
let prepared: PreparedCoordinator;
let browser: Browser | undefined;
let phone: BrowserContext;
let wide: BrowserContext;
let dashboard: Page;
let clientPage: Page;
let nodeClient: CliProcess | undefined;
let summary: RunSummary;

/** Two animation frames: layout, ResizeObserver and chart.js redraws have run. */
function settle(page: Page): Promise<void> {
  return page.evaluate(
    () =>
      new Promise<void>((resolve) =>
        requestAnimationFrame(() => requestAnimationFrame(() => resolve())),
      ),
  );
}

async function overflow(page: Page): Promise<{ scrollWidth: number; innerWidth: number }> {
  await settle(page);
  return page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
}

before(
  async () => {
    // A real simulate result folder for the history, as `fedistill simulate` writes it.
    await runSimulation({
      config: tinyConfig({ strategy: ['fedkd', 'fedavg'], workers: 0, rounds: 2 }),
      runDir: join(simDir, 'tiny-grid'),
    });
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
        simulationResultsDirs: [simDir],
      },
      backend: 'cpu',
      ...SMALL_MODELS,
      demoClients: 2,
      log: () => undefined,
      onEvent: (event) => events.push(event),
    });
    const url = prepared.running.url;
    browser = await launchChromium();
    phone = await browser.newContext({ viewport: PHONE });
    wide = await browser.newContext({ viewport: WIDE });
    for (const context of [phone, wide])
      context.on('weberror', (error) => pageErrors.push(error.error().message));
    dashboard = await wide.newPage();
    await dashboard.goto(`${url}/`);
    clientPage = await phone.newPage();
    await clientPage.goto(`${url}/client?token=${TOKEN}&shard=1&name=phone`);
    nodeClient = runCli([
      'join',
      '--server',
      url,
      '--data',
      'demo:0/2',
      '--token',
      TOKEN,
      '--backend',
      'cpu',
      '--name',
      'node-0',
      '--cache-dir',
      join(dataDir, 'node-cache'),
    ]);
    // The whole end of run as the CLI does it: rounds, final export, summary to the dashboard.
    ({ summary } = await runAndSummarize(prepared, join(dataDir, 'summary.json')));
    const exit = await nodeClient.exited;
    assert.equal(exit.code, 0, `node client failed:\n${exit.output}`);
    await dashboard.waitForFunction(
      () => {
        const main = document.getElementById('dashboard')?.dataset;
        return main?.state === 'completed' && main.summary === 'ready' && main.models !== '';
      },
      undefined,
      { timeout: 60_000 },
    );
    console.log(`# screenshots: ${SCREENSHOTS}`);
  },
  { timeout: 600_000 },
);

after(async () => {
  await browser?.close();
  nodeClient?.kill();
  await prepared?.running.close();
  prepared?.teacher.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

test("the client page ends on the run's final state and keeps it after the connection closes", async () => {
  await clientPage.waitForFunction(
    () => document.getElementById('client')?.dataset.state === 'ended',
    undefined,
    { timeout: 60_000 },
  );
  // The page closes its own connection when the run ends; wait until it has seen that close
  // (or, as before this change, fallen back to reconnecting).
  await clientPage.waitForFunction(
    () =>
      document
        .getElementById('log')
        ?.textContent?.includes('connection closed after the run ended') ||
      document.getElementById('client')?.dataset.state === 'reconnecting',
    undefined,
    { timeout: 30_000 },
  );
  const state = await clientPage.evaluate(() => ({
    state: document.getElementById('client')?.dataset.state,
    badge: document.getElementById('state')?.textContent,
    title: document.getElementById('progress-title')?.textContent,
  }));
  assert.equal(state.state, 'ended');
  assert.equal(state.badge, 'run ended: completed, your updates: 2 accepted');
  assert.equal(state.title, 'Run ended: completed');
  assert.equal(
    prepared.running.io.of('/').sockets.size,
    0,
    'no client is connected (or reconnecting) after the run',
  );
  // A page opened after the run says so instead of joining.
  const late = await phone.newPage();
  await late.goto(`${prepared.running.url}/client?token=${TOKEN}&shard=0`);
  await late.waitForFunction(
    () => document.getElementById('client')?.dataset.state === 'ended',
    undefined,
    { timeout: 60_000 },
  );
  assert.equal(await late.locator('#state').innerText(), 'run ended before this page joined');
  await late.close();
  assert.deepEqual(pageErrors, []);
});

test('neither page overflows sideways at 390 px or at 1400 px', async () => {
  const seen: string[] = [];
  for (const [name, page] of [
    ['client', clientPage],
    ['dashboard', dashboard],
  ] as const) {
    for (const size of [PHONE, WIDE]) {
      await page.setViewportSize(size);
      const { scrollWidth, innerWidth } = await overflow(page);
      seen.push(`${name}@${size.width}: ${scrollWidth}/${innerWidth}`);
      await page.screenshot({
        path: join(SCREENSHOTS, `${name}-${size.width}.png`),
        fullPage: true,
      });
      assert.ok(scrollWidth <= innerWidth, `${name} at ${size.width} px: ${seen.join(', ')}`);
    }
  }
  console.log(`# widths (scrollWidth/innerWidth): ${seen.join(', ')}`);
});

test('the accuracy axis is fitted to the data, and the loss axis is logarithmic', async () => {
  await dashboard.setViewportSize(WIDE);
  // No helper functions inside evaluate: tsx's name helpers do not exist in the page.
  const axes = await dashboard.evaluate(() => ({
    accuracy: { ...document.getElementById('accuracy-chart')?.dataset },
    loss: { ...document.getElementById('loss-chart')?.dataset },
  }));
  const snapshot = (await (
    await fetch(`${prepared.running.url}/api/dashboard`)
  ).json()) as DashboardSnapshot;
  const values = snapshot.rounds.flatMap((r) => [r.studentAccuracy!, r.agreement!]);
  values.push(snapshot.teacher.accuracy);
  const min = Number(axes.accuracy.yMin);
  const max = Number(axes.accuracy.yMax);
  assert.ok(min <= Math.min(...values) && max >= Math.max(...values), JSON.stringify(axes));
  assert.ok(max - min < 1, `fitted, not 0–100%: ${min}–${max}`);
  assert.equal(axes.accuracy.rounds, '1,2');
  const losses = snapshot.rounds.flatMap((r) => [r.studentLoss!, r.meanClientLoss!]);
  assert.ok(Number(axes.loss.yMin) > 0 && Number(axes.loss.yMin) <= Math.min(...losses));
  assert.ok(Number(axes.loss.yMax) >= Math.max(...losses));
});

test("a client's drill-down shows its label histogram and its local metrics per round", async () => {
  const row = dashboard.locator('#clients tbody tr', { hasText: 'phone' });
  await row.click();
  await dashboard.waitForFunction(
    () => document.getElementById('client-metrics-chart')?.dataset.rounds === '1,2',
    undefined,
    { timeout: 30_000 },
  );
  const detail = await dashboard.evaluate(() => ({
    counts: document.getElementById('client-labels-chart')?.dataset.counts ?? '',
    series: document.getElementById('client-metrics-chart')?.dataset.series ?? '',
  }));
  const snapshot = (await (
    await fetch(`${prepared.running.url}/api/dashboard`)
  ).json()) as DashboardSnapshot;
  const browserClient = snapshot.clients.find((c) => c.name === 'phone')!;
  const counts = detail.counts.split(',').map(Number);
  assert.equal(
    counts.reduce((a, b) => a + b, 0),
    browserClient.numSamples,
    'the histogram counts every private sample once',
  );
  assert.ok(counts.length >= 2 && counts.length <= 10, detail.counts);
  assert.match(detail.series, /local loss\|local accuracy/);
  await dashboard.screenshot({
    path: join(SCREENSHOTS, 'dashboard-client-1400.png'),
    fullPage: true,
  });
});

test('the run history overlays this run and a simulated strategy', async () => {
  const runKey = `run:${prepared.running.coordinator.runId}`;
  await dashboard.waitForFunction(
    (key) => document.getElementById('history-chart')?.dataset.series?.includes(key.slice(4, 12)),
    runKey,
    { timeout: 30_000 },
  );
  const simBox = dashboard.locator('#history-runs input[data-key$=":fedavg:1"]');
  await simBox.check();
  await dashboard.waitForFunction(
    () => (document.getElementById('history-chart')?.dataset.series ?? '').split('|').length === 2,
    undefined,
    { timeout: 30_000 },
  );
  const series = (await dashboard.locator('#history-chart').getAttribute('data-series'))!.split(
    '|',
  );
  assert.match(series[0]!, /^[0-9a-f]{8} · fedkd · /, series.join(' / '));
  assert.equal(series[1], 'tiny-grid · fedavg · seed 1');
  assert.equal(await dashboard.locator('#history-chart').getAttribute('data-rounds'), '1,2');
  await dashboard.locator('#history').scrollIntoViewIfNeeded();
  await dashboard.screenshot({ path: join(SCREENSHOTS, 'dashboard-history-1400.png') });
});

test('the summary panel shows the measured result, and the student downloads and loads in tfjs', async () => {
  const cards = await dashboard.locator('#summary-cards').innerText();
  assert.match(cards, new RegExp(`${summary.timesSmaller.toFixed(1)}×`));
  assert.match(cards, new RegExp(`${summary.timesFaster.toFixed(1)}×`));
  const link = dashboard.locator('#downloads a[href="/api/model/student/model.json"]');
  assert.equal(await link.count(), 1);
  const url = `${prepared.running.url}/api/model/student/model.json`;
  const manifest = (await (await fetch(url)).json()) as {
    weightsManifest: { paths: string[] }[];
  };
  for (const path of manifest.weightsManifest.flatMap((g) => g.paths)) {
    const weights = await fetch(`${prepared.running.url}/api/model/student/${path}`);
    assert.equal(weights.status, 200, path);
    await weights.arrayBuffer();
  }
  const loaded = await tf.loadLayersModel(url);
  const x = tf.tensor(prepared.test.x.subarray(0, 8 * 784), [8, 784]);
  const ours = prepared.running.coordinator.studentModel.predict(x) as tf.Tensor;
  const theirs = loaded.predict(x) as tf.Tensor;
  assert.deepEqual(Array.from(await theirs.data()), Array.from(await ours.data()));
  tf.dispose([x, ours, theirs]);
  loaded.dispose();
  // Only the files of student* exports are served, never another path.
  for (const path of [
    '/api/model/student/..%2F..%2Ffedistill.sqlite',
    '/api/model/checkpoints/latest.json',
  ])
    assert.equal((await fetch(`${prepared.running.url}${path}`)).status, 404, path);
  assert.equal((await fetch(`${prepared.running.url}/favicon.ico`)).status, 200);
});
