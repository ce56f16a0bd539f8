/**
 * The coordinator's browser-facing HTTP routes without a browser: pages,
 * the esbuild bundle and wasm binaries, demo shards (token, range, round
 * trip through the browser decoder) and the teacher-loss helper.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ArtifactStore } from '../../server/artifacts.js';
import { createHttpHandler } from '../../server/httpRoutes.js';
import { RunStore } from '../../server/store.js';
import type { DashboardHub } from '../../server/dashboard/hub.js';
import { DemoShards } from '../../server/dashboard/demoShards.js';
import { meanCrossEntropy } from '../../server/dashboard/metrics.js';
import { createDashboardRoutes } from '../../server/dashboard/routes.js';
import { decodeDemoShard } from '../../client/browser/demoShard.js';

const TOKEN = 'routes-secret';
const dir = mkdtempSync(join(tmpdir(), 'fedistill-dashboard-routes-'));
const store = new RunStore(':memory:');
// Pixels on the unorm8 grid, as MNIST digits are, so the shard travels as bytes.
const shard = {
  x: Float32Array.from({ length: 3 * 4 }, (_, i) => (i * 20) / 255),
  y: Uint8Array.from([7, 0, 3]),
  count: 3,
};
const servers: Server[] = [];

function serve(demoShards: DemoShards, tokens: string[]): Promise<string> {
  const hub = { snapshot: () => ({ fake: true }) } as unknown as DashboardHub;
  const server = createServer(
    createHttpHandler({
      artifacts: new ArtifactStore(join(dir, 'artifacts')),
      tokens,
      status: { status: () => ({}), rounds: () => [], clients: () => [] },
      fallback: createDashboardRoutes({ hub, store, runId: 'run', tokens, demoShards }),
    }),
  );
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

let url: string;
let bare: string;
before(async () => {
  url = await serve(new DemoShards([shard, shard], [4]), [TOKEN]);
  bare = await serve(new DemoShards([], [4]), []);
});

after(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const auth = { authorization: `Bearer ${TOKEN}` };

test('the dashboard and client pages load their bundled modules', async () => {
  for (const [path, script] of [
    ['/', 'dashboard.js'],
    ['/client', 'client.js'],
  ] as const) {
    const response = await fetch(`${url}${path}`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await response.text(), new RegExp(`src="/assets/${script}"`));
  }
  const css = await fetch(`${url}/assets/style.css`);
  assert.match(css.headers.get('content-type') ?? '', /text\/css/);
});

test('the bundle is built on demand and served with ETags', async () => {
  for (const name of ['client.js', 'dashboard.js', 'fedistill-client.js']) {
    const response = await fetch(`${url}/assets/${name}`);
    assert.equal(response.status, 200, name);
    assert.match(response.headers.get('content-type') ?? '', /javascript/);
    const etag = response.headers.get('etag');
    assert.ok(etag && (await response.arrayBuffer()).byteLength > 0, name);
    const again = await fetch(`${url}/assets/${name}`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
  }
  const embed = await (await fetch(`${url}/assets/fedistill-client.js`)).text();
  assert.match(embed, /startBrowserClient/, 'the embeddable module exports startBrowserClient');
  assert.equal((await fetch(`${url}/assets/nope.js`)).status, 404);
});

test('the tfjs wasm binaries are served for setWasmPaths', async () => {
  const response = await fetch(`${url}/assets/wasm/tfjs-backend-wasm-simd.wasm`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'application/wasm');
  const magic = new Uint8Array(await response.arrayBuffer()).subarray(0, 4);
  assert.deepEqual([...magic], [0x00, 0x61, 0x73, 0x6d]);
  assert.equal((await fetch(`${url}/assets/wasm/other.wasm`)).status, 404);
});

test('demo shards need the join token, round-trip exactly and stay in range', async () => {
  assert.equal((await fetch(`${url}/api/demo-shard?index=0`)).status, 401);
  const response = await fetch(`${url}/api/demo-shard?index=1`, { headers: auth });
  assert.equal(response.status, 200);
  const decoded = decodeDemoShard(new Uint8Array(await response.arrayBuffer()));
  assert.equal(decoded.index, 1);
  assert.equal(decoded.of, 2);
  assert.deepEqual([...decoded.data.y], [7, 0, 3]);
  assert.deepEqual(decoded.data.x, shard.x);
  const missing = await fetch(`${url}/api/demo-shard?index=2`, { headers: auth });
  assert.equal(missing.status, 404);
  assert.match(((await missing.json()) as { error: string }).error, /shards 0\.\.1/);
  // Without an index the coordinator hands shards out round-robin.
  const picks = [];
  for (let i = 0; i < 3; i++) {
    const bytes = await (await fetch(`${url}/api/demo-shard`, { headers: auth })).arrayBuffer();
    picks.push(decodeDemoShard(new Uint8Array(bytes)).index);
  }
  assert.deepEqual(picks, [0, 1, 0]);
});

test('a coordinator off the embedded split says it has no demo shards', async () => {
  const response = await fetch(`${bare}/api/demo-shard`);
  assert.equal(response.status, 404);
  assert.match(((await response.json()) as { error: string }).error, /no demo shards/);
});

test('the JSON API serves the dashboard snapshot and the update log', async () => {
  assert.deepEqual(await (await fetch(`${url}/api/dashboard`)).json(), { fake: true });
  assert.deepEqual(await (await fetch(`${url}/api/updates?round=1`)).json(), []);
  assert.equal((await fetch(`${url}/api/updates?round=x`)).status, 400);
  assert.equal((await fetch(`${url}/api/nothing`)).status, 404);
});

test('meanCrossEntropy matches hand-computed values', () => {
  // Uniform logits over 2 classes: ln 2. Logits [ln 3, 0] with label 0: −ln(3/4).
  const value = meanCrossEntropy(Float32Array.from([0, 0, Math.log(3), 0]), [1, 0], 2)!;
  assert.ok(Math.abs(value - (Math.log(2) - Math.log(0.75)) / 2) < 1e-6, String(value));
  assert.equal(meanCrossEntropy(new Float32Array(0), [], 2), null);
});
