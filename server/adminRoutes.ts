/**
 * Control endpoints behind the admin token (`adminToken`, `--admin-token`),
 * each needing `Authorization: Bearer <admin token>`:
 *
 * - `POST /api/admin/stop`: the open round closes now with the updates that
 *   have arrived (aggregated if they meet the quorum), then the run ends as
 *   `stopped` and the final student is exported. 202 with the run's status.
 * - `GET /api/admin/export`: where the latest student is — the final export
 *   once the run has ended, else the newest round checkpoint — as JSON
 *   `{ runId, state, source, round, dir, modelJson, files: [{ name, bytes, url }] }`;
 *   404 before any round has been aggregated.
 * - `GET /api/admin/export/model.json`, `…/weights.bin`: those files (tfjs layers format).
 *
 * Without an admin token configured every `/api/admin/*` request gets 404.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { bearerToken, tokenEquals } from './auth.js';

export const ADMIN_ROUTE = '/api/admin';

const EXPORT_FILES: Readonly<Record<string, string>> = {
  'model.json': 'application/json',
  'weights.bin': 'application/octet-stream',
};

export interface StudentLocation {
  /** Folder with model.json and weights.bin. */
  dir: string;
  source: 'final' | 'checkpoint';
  /** The round a checkpoint was taken after; null for the final export. */
  round: number | null;
}

export interface AdminControl {
  token: string;
  runId: string;
  /** Asks the run to stop; returns the status to report. */
  stop(): unknown;
  /** The run's status (its `state` is reported with an export). */
  status(): { state?: unknown };
  latestStudent(): StudentLocation | undefined;
}

/**
 * The latest student of a run: its final export once the run has finished,
 * else the checkpoint `latest.json` names.
 */
export function latestStudent(
  checkpoints: { finalDir: string; checkpointDir: string },
  finished: boolean,
): StudentLocation | undefined {
  if (finished && existsSync(join(checkpoints.finalDir, 'model.json')))
    return { dir: checkpoints.finalDir, source: 'final', round: null };
  try {
    const latest = JSON.parse(
      readFileSync(join(checkpoints.checkpointDir, 'latest.json'), 'utf8'),
    ) as { round: number; path: string };
    return {
      dir: join(checkpoints.checkpointDir, dirname(latest.path)),
      source: 'checkpoint',
      round: latest.round,
    };
  } catch {
    return undefined;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers = {}): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(JSON.stringify(body));
}

/** Answers one `/api/admin…` request (the caller has matched the prefix). */
export async function handleAdmin(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  admin: AdminControl | undefined,
): Promise<void> {
  if (!admin) {
    sendJson(res, 404, {
      error: 'admin endpoints are off: start the coordinator with an admin token',
    });
    return;
  }
  if (!tokenEquals(bearerToken(req.headers.authorization), admin.token)) {
    sendJson(
      res,
      401,
      { error: 'admin endpoints need Authorization: Bearer <admin token>' },
      { 'www-authenticate': 'Bearer realm="fedistill admin"' },
    );
    return;
  }
  const path = url.pathname.slice(ADMIN_ROUTE.length);
  const allow = (method: string) => {
    if (req.method === method || (method === 'GET' && req.method === 'HEAD')) return true;
    sendJson(res, 405, { error: `${url.pathname} takes ${method}` }, { allow: method });
    return false;
  };
  if (path === '/stop') {
    if (allow('POST')) sendJson(res, 202, admin.stop());
    return;
  }
  if (path === '/export' || path.startsWith('/export/')) {
    if (!allow('GET')) return;
    const location = admin.latestStudent();
    if (!location) {
      sendJson(res, 404, { error: 'no student yet: no round has been aggregated' });
      return;
    }
    const name = path.slice('/export/'.length);
    if (path === '/export') {
      const files = [];
      for (const file of Object.keys(EXPORT_FILES)) {
        const info = await stat(join(location.dir, file)).catch(() => undefined);
        if (info)
          files.push({ name: file, bytes: info.size, url: `${ADMIN_ROUTE}/export/${file}` });
      }
      sendJson(res, 200, {
        runId: admin.runId,
        state: admin.status().state ?? null,
        ...location,
        modelJson: join(location.dir, 'model.json'),
        files,
      });
      return;
    }
    const type = Object.hasOwn(EXPORT_FILES, name) ? EXPORT_FILES[name] : undefined;
    const bytes = type
      ? await readFile(join(location.dir, name)).catch(() => undefined)
      : undefined;
    if (!type || !bytes) {
      sendJson(res, 404, { error: `no export file ${name}` });
      return;
    }
    res.writeHead(200, {
      'content-type': type,
      'content-length': bytes.byteLength,
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : bytes);
    return;
  }
  sendJson(res, 404, { error: `no admin route ${url.pathname}` });
}
