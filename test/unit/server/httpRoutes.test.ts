/**
 * Artifacts over plain HTTP on a real server: content-addressed, cacheable by
 * ETag, guarded by the join token when one is set.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ArtifactStore } from '../../../server/artifacts.js';
import { createHttpHandler } from '../../../server/httpRoutes.js';

test('artifacts: 200 with ETag, 304 on If-None-Match, 401 without the token, 404 otherwise', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-http-'));
  const artifacts = new ArtifactStore(dir);
  const bytes = Uint8Array.from([1, 2, 3, 4, 5]);
  const ref = await artifacts.put(bytes);
  assert.equal(ref.bytes, 5);
  // sha256 of 01 02 03 04 05
  assert.equal(ref.hash, '74f81fe167d99b4cb41d6d0ccda82278caee9f3e2f25d5e5a3936ff3dcec60d0');
  const server = createServer(
    createHttpHandler({
      artifacts,
      tokens: ['t0k'],
      status: { status: () => ({ state: 'training' }), rounds: () => [], clients: () => [] },
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const auth = { authorization: 'Bearer t0k' };
    const ok = await fetch(`${base}${ref.url}`, { headers: auth });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('etag'), `"${ref.hash}"`);
    assert.match(ok.headers.get('cache-control') ?? '', /immutable/);
    assert.deepEqual(new Uint8Array(await ok.arrayBuffer()), bytes);
    const cached = await fetch(`${base}${ref.url}`, {
      headers: { ...auth, 'if-none-match': `"${ref.hash}"` },
    });
    assert.equal(cached.status, 304);
    assert.equal((await fetch(`${base}${ref.url}`)).status, 401);
    assert.equal(
      (await fetch(`${base}/artifacts/${'0'.repeat(64)}`, { headers: auth })).status,
      404,
    );
    assert.equal((await fetch(`${base}/artifacts/..%2f..%2fetc`, { headers: auth })).status, 404);
    assert.deepEqual(await (await fetch(`${base}/api/status`)).json(), { state: 'training' });
    assert.equal((await fetch(`${base}/api/status`, { method: 'POST' })).status, 405);
    // A second store over the same folder serves what the first cached by key.
    await artifacts.setCached('teacher-x', bytes);
    assert.deepEqual(await new ArtifactStore(dir).getCached('teacher-x'), bytes);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
});
