/**
 * Artifact downloads over HTTP against a real loopback server that fails the way a coordinator
 * being killed and resumed does: connections reset, then 503, then the bytes.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { SocketTransport } from '../../../client/socketTransport.js';

const BYTES = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
const REF = { hash: 'abc', url: '/artifacts/abc', bytes: BYTES.byteLength };

/** A server whose i-th request (from 0) is handled by `answers[i]` (the last one repeats). */
async function serve(
  answers: ('reset' | 503 | 404 | 'bytes')[],
): Promise<{ url: string; requests: () => number; server: Server }> {
  let requests = 0;
  const server = createServer((request, response) => {
    const answer = answers[Math.min(requests, answers.length - 1)] ?? 'reset';
    requests += 1;
    if (answer === 'reset') request.socket.destroy();
    else if (answer === 'bytes') response.end(BYTES);
    else response.writeHead(answer).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, requests: () => requests, server };
}

test('an artifact download retries resets and 503 until the coordinator serves it', async () => {
  const { url, requests, server } = await serve(['reset', 'reset', 503, 'bytes']);
  try {
    const transport = new SocketTransport({ url, artifactRetryMs: 30_000 });
    assert.deepEqual(await transport.fetchArtifact(REF), BYTES);
    assert.equal(requests(), 4);
  } finally {
    server.close();
  }
});

test('an artifact download fails at once on 404 and gives up after artifactRetryMs', async () => {
  const missing = await serve([404]);
  try {
    const transport = new SocketTransport({ url: missing.url, artifactRetryMs: 30_000 });
    await assert.rejects(transport.fetchArtifact(REF), /GET \/artifacts\/abc failed: 404/);
    assert.equal(missing.requests(), 1);
  } finally {
    missing.server.close();
  }
  const down = await serve(['reset']);
  try {
    const transport = new SocketTransport({ url: down.url, artifactRetryMs: 1_000 });
    await assert.rejects(transport.fetchArtifact(REF), /failed after \d+ attempts/);
    assert.ok(down.requests() >= 2, `${down.requests()} attempts`);
  } finally {
    down.server.close();
  }
});
