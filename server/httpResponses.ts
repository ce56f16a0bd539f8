/**
 * The two kinds of HTTP answer the coordinator and the edges give: small JSON bodies, and
 * content-addressed artifacts (cached for good by hash, 304 on a matching ETag).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** Answers a GET or HEAD for the artifact `hash`, whose bytes are `bytes` (404 when undefined). */
export function sendArtifact(
  req: IncomingMessage,
  res: ServerResponse,
  hash: string,
  bytes: Uint8Array | undefined,
): void {
  if (!bytes) {
    sendJson(res, 404, { error: `no artifact ${hash}` });
    return;
  }
  const etag = `"${hash}"`;
  const headers = {
    etag,
    // Content-addressed: the bytes behind a hash never change.
    'cache-control': 'public, max-age=31536000, immutable',
    'content-type': 'application/vnd.msgpack',
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-length': bytes.byteLength });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}
