/**
 * A separate HTTP listener that serves only /metrics, for operators who keep
 * scraping off the clients' address (e.g. on a private interface) rather than
 * behind the admin token.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricsSource } from './metricsRoute.js';
import { METRICS_ROUTE, serveMetrics } from './metricsRoute.js';

export interface MetricsServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(options: {
  host: string;
  port: number;
  metrics: MetricsSource;
}): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== METRICS_ROUTE) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`only ${METRICS_ROUTE} is served here\n`);
      return;
    }
    serveMetrics(req, res, options.metrics, undefined).catch((error: Error) => {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${error.message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}${METRICS_ROUTE}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
