/**
 * HTTP routes for browsers: the dashboard (`/`), the browser client page
 * (`/client`), their bundled code and the tfjs wasm binaries (`/assets/…`),
 * the dashboard's JSON (`/api/dashboard`, `/api/updates`, `/api/client`,
 * `/api/history`, `/api/history/rounds`), the student's files for download
 * (`/api/model/<variant>/<file>`), demo shards (`/api/demo-shard`) and the
 * icon. Plugged into createHttpHandler as its fallback.
 */
import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RunStore } from '../store.js';
import type { BundleFile } from './bundle.js';
import { browserBundle, wasmFile } from './bundle.js';
import type { DemoShards } from './demoShards.js';
import type { DashboardHub } from './hub.js';
import type { ClientTelemetry } from './clientTelemetry.js';
import type { RunHistory } from './history.js';
import { modelFilePath, modelVariants } from './modelFiles.js';
import { CLIENT_HTML, DASHBOARD_HTML, FAVICON_SVG, STYLESHEET } from './pages.js';

export interface DashboardRouteOptions {
  hub: DashboardHub;
  store: RunStore;
  runId: string;
  /** When set, demo shards need `Authorization: Bearer <one of these>` like artifacts. */
  tokens: readonly string[];
  demoShards?: DemoShards;
  /** Per-client label histograms and local metrics for `/api/client`. */
  telemetry?: ClientTelemetry;
  /** Past runs and simulate results for `/api/history`. */
  history?: RunHistory;
  /** The run's folder, whose `student*` exports `/api/model` serves. */
  runDir?: string;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(JSON.stringify(body));
}

function sendText(
  req: IncomingMessage,
  res: ServerResponse,
  body: string | Uint8Array,
  contentType: string,
): void {
  res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-cache' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function sendFile(req: IncomingMessage, res: ServerResponse, file: BundleFile): void {
  const headers = {
    etag: file.etag,
    'content-type': file.contentType,
    'cache-control': file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    // Public code: apps on other origins may import the embeddable client module.
    'access-control-allow-origin': '*',
  };
  if (req.headers['if-none-match'] === file.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-length': file.bytes.byteLength });
  res.end(req.method === 'HEAD' ? undefined : file.bytes);
}

/**
 * Returns a handler that answers the routes above and returns true, or
 * returns false for any other path (the caller answers 404).
 */
export function createDashboardRoutes(
  options: DashboardRouteOptions,
): (req: IncomingMessage, res: ServerResponse, url: URL) => boolean {
  return (req, res, url) => {
    const path = url.pathname;
    if (path === '/' || path === '/index.html') {
      sendText(req, res, DASHBOARD_HTML, 'text/html; charset=utf-8');
      return true;
    }
    if (path === '/client' || path === '/client/') {
      sendText(req, res, CLIENT_HTML, 'text/html; charset=utf-8');
      return true;
    }
    if (path === '/favicon.ico' || path === '/favicon.svg') {
      // Browsers accept an SVG icon under the .ico name they ask for by default.
      res.writeHead(200, {
        'content-type': 'image/svg+xml',
        'cache-control': 'public, max-age=86400',
      });
      res.end(req.method === 'HEAD' ? undefined : FAVICON_SVG);
      return true;
    }
    if (path.startsWith('/api/model/')) {
      serveModelFile(req, res, path, options);
      return true;
    }
    if (path === '/assets/style.css') {
      sendText(req, res, STYLESHEET, 'text/css; charset=utf-8');
      return true;
    }
    if (path.startsWith('/assets/wasm/')) {
      const file = wasmFile(path.slice('/assets/wasm/'.length));
      if (file) sendFile(req, res, file);
      else sendJson(res, 404, { error: `no wasm file ${path}` });
      return true;
    }
    if (/^\/assets\/[\w-]+\.js$/.test(path)) {
      const name = path.slice('/assets/'.length);
      browserBundle().then(
        (files) => {
          const file = files.get(name);
          if (file) sendFile(req, res, file);
          else sendJson(res, 404, { error: `no bundle file ${name}` });
        },
        (error: Error) => sendJson(res, 500, { error: error.message }),
      );
      return true;
    }
    switch (path) {
      case '/api/dashboard':
        sendJson(res, 200, options.hub.snapshot());
        return true;
      case '/api/updates': {
        const round = url.searchParams.get('round');
        if (round !== null && !/^\d+$/.test(round)) {
          sendJson(res, 400, { error: `round must be a positive integer, got ${round}` });
          return true;
        }
        sendJson(
          res,
          200,
          options.store.updates(options.runId, round === null ? undefined : Number(round)),
        );
        return true;
      }
      case '/api/model':
        sendJson(res, 200, options.runDir ? modelVariants(options.runDir) : []);
        return true;
      case '/api/client': {
        const id = url.searchParams.get('id') ?? '';
        const client = options.store.clients(options.runId).find((c) => c.id === id);
        if (!client) {
          sendJson(res, 404, { error: `no client ${JSON.stringify(id)} in this run` });
          return true;
        }
        const telemetry = options.telemetry?.view(id) ?? { labelCounts: null, rounds: [] };
        const updates = options.store
          .updates(options.runId)
          .filter((u) => u.clientId === id)
          .map(({ round, status, reason, numSamples, bytes, receivedAt }) => ({
            round,
            status,
            reason,
            numSamples,
            bytes,
            receivedAt,
          }));
        sendJson(res, 200, { client, ...telemetry, updates });
        return true;
      }
      case '/api/history':
        sendJson(res, 200, options.history?.list() ?? { entries: [], problems: [] });
        return true;
      case '/api/history/rounds': {
        const key = url.searchParams.get('key') ?? '';
        const rounds = options.history?.rounds(key);
        if (!rounds) sendJson(res, 404, { error: `no history entry ${JSON.stringify(key)}` });
        else sendJson(res, 200, rounds);
        return true;
      }
      case '/api/demo-shard':
        serveDemoShard(req, res, url, options);
        return true;
      default:
        return false;
    }
  };
}

function serveDemoShard(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  options: DashboardRouteOptions,
): void {
  const shards = options.demoShards;
  if (!shards || shards.count === 0) {
    sendJson(res, 404, {
      error:
        'this coordinator has no demo shards (it is not running on the embedded MNIST split); pass your own data to startBrowserClient',
    });
    return;
  }
  if (options.tokens.length > 0) {
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : '';
    if (!options.tokens.includes(token)) {
      sendJson(res, 401, { error: 'demo shards need Authorization: Bearer <join token>' });
      return;
    }
  }
  const raw = url.searchParams.get('index');
  const index = raw === null ? shards.nextIndex() : Number(raw);
  const bytes = Number.isInteger(index) ? shards.bytes(index) : undefined;
  if (!bytes) {
    sendJson(res, 404, {
      error: `no demo shard ${raw}; this coordinator has shards 0..${shards.count - 1}`,
    });
    return;
  }
  res.writeHead(200, {
    'content-type': 'application/vnd.msgpack',
    'cache-control': 'no-store',
    'content-length': bytes.byteLength,
  });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

function serveModelFile(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  options: DashboardRouteOptions,
): void {
  const match = /^\/api\/model\/([\w.-]+)\/([\w.-]+)$/.exec(path);
  const file =
    match && options.runDir ? modelFilePath(options.runDir, match[1]!, match[2]!) : undefined;
  if (!match || !file) {
    sendJson(res, 404, {
      error: `no model file ${path}; GET /api/model lists the exports (after the run ends)`,
    });
    return;
  }
  const name = match[2]!;
  res.writeHead(200, {
    'content-type': name.endsWith('.json') ? 'application/json' : 'application/octet-stream',
    'cache-control': 'no-cache',
    // Other origins (a notebook, an app) may load the student with tf.loadLayersModel.
    'access-control-allow-origin': '*',
    'content-disposition': `inline; filename="${match[1]}-${name}"`,
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(file)
    .on('error', () => res.destroy())
    .pipe(res);
}
