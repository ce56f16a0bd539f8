/**
 * GET /metrics: the Prometheus text exposition, behind the admin token on the
 * coordinator's own port, or open on a separate listen address the operator
 * chose for it (metricsServer.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';

export const METRICS_ROUTE = '/metrics';

export interface MetricsSource {
  render(): Promise<string>;
  readonly contentType: string;
}

function bearerMatches(req: IncomingMessage, token: string): boolean {
  const auth = req.headers.authorization ?? '';
  const given = Buffer.from(auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : '');
  const wanted = Buffer.from(token);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

function sendText(res: ServerResponse, status: number, text: string, headers = {}): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/**
 * Answers one /metrics request. `token`: the bearer token it needs (the admin token);
 * undefined on a dedicated metrics address, where anyone who can reach it may scrape.
 */
export async function serveMetrics(
  req: IncomingMessage,
  res: ServerResponse,
  metrics: MetricsSource,
  token: string | undefined,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendText(res, 405, `method ${req.method} not allowed\n`, { allow: 'GET, HEAD' });
    return;
  }
  if (token !== undefined && !bearerMatches(req, token)) {
    sendText(res, 401, '/metrics needs Authorization: Bearer <admin token>\n', {
      'www-authenticate': 'Bearer realm="fedistill metrics"',
    });
    return;
  }
  const body = await metrics.render();
  res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}
