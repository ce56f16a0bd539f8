/**
 * Plain HTTP beside socket.io: content-addressed artifacts (cacheable by
 * ETag) and a read-only JSON API over the run's state.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ArtifactStore } from './artifacts.js';
import { ARTIFACT_ROUTE } from './artifacts.js';
import type { AdminControl } from './adminRoutes.js';
import { ADMIN_ROUTE, handleAdmin } from './adminRoutes.js';
import type { MetricsSource } from './metrics/metricsRoute.js';
import { METRICS_ROUTE, serveMetrics } from './metrics/metricsRoute.js';
import { sendArtifact, sendJson } from './httpResponses.js';

export interface StatusSource {
  status(): unknown;
  rounds(): unknown;
  clients(): unknown;
}

export interface HttpRouteOptions {
  artifacts: ArtifactStore;
  status: StatusSource;
  /** When set, artifact requests must carry `Authorization: Bearer <one of these>`. */
  tokens: readonly string[];
  /** `/api/admin/*` behind the admin token (adminRoutes.ts); absent: those routes answer 404. */
  admin?: AdminControl;
  /**
   * `/metrics` here, behind `token` (the admin token). Absent (no admin token, or the metrics
   * have their own listen address): that route answers 404.
   */
  metrics?: { source: MetricsSource; token: string };
  /** Further routes (the dashboard and browser client): returns true when it answered. */
  fallback?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean;
}

export function createHttpHandler(
  options: HttpRouteOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname === ADMIN_ROUTE || url.pathname.startsWith(`${ADMIN_ROUTE}/`)) {
        handleAdmin(req, res, url, options.admin).catch((error: Error) =>
          sendJson(res, 500, { error: error.message }),
        );
        return;
      }
      if (url.pathname === METRICS_ROUTE) {
        if (!options.metrics) {
          sendJson(res, 404, {
            error:
              '/metrics is served only with an admin token or on its own address (metricsPort)',
          });
          return;
        }
        serveMetrics(req, res, options.metrics.source, options.metrics.token).catch(
          (error: Error) => sendJson(res, 500, { error: error.message }),
        );
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendJson(res, 405, { error: `method ${req.method} not allowed` });
        return;
      }
      if (url.pathname.startsWith(ARTIFACT_ROUTE)) {
        if (options.tokens.length > 0) {
          const auth = req.headers.authorization ?? '';
          const token = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : '';
          if (!options.tokens.includes(token)) {
            sendJson(res, 401, {
              error: 'artifact requests need Authorization: Bearer <join token>',
            });
            return;
          }
        }
        const hash = url.pathname.slice(ARTIFACT_ROUTE.length);
        sendArtifact(
          req,
          res,
          hash,
          /^[0-9a-f]{64}$/.test(hash) ? options.artifacts.get(hash) : undefined,
        );
        return;
      }
      switch (url.pathname) {
        case '/healthz':
          sendJson(res, 200, { ok: true });
          return;
        case '/api/status':
          sendJson(res, 200, options.status.status());
          return;
        case '/api/rounds':
          sendJson(res, 200, options.status.rounds());
          return;
        case '/api/clients':
          sendJson(res, 200, options.status.clients());
          return;
        default:
          if (!options.fallback?.(req, res, url))
            sendJson(res, 404, { error: `no route ${url.pathname}` });
      }
    } catch (error) {
      sendJson(res, 500, { error: (error as Error).message });
    }
  };
}
