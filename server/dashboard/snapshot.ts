/**
 * What the dashboard shows, as one JSON-able value: served at `/api/dashboard`
 * and pushed on the `/dashboard` socket.io namespace after every coordinator
 * event. The dashboard page (ui/dashboard.ts) renders it whole, so a reload or
 * a dropped live connection never leaves it half-updated.
 */
import type { ClientRecord, RoundRecord } from '../store.js';
import type { RunSummary } from '../summary.js';
import type { ModelVariant } from './modelFiles.js';

/** The coordinator's `status()` fields the dashboard reads. */
export interface DashboardStatus {
  runId: string;
  state: 'waiting' | 'training' | 'completed' | 'stopped' | string;
  modelVersion: number;
  roundsCompleted: number;
  roundsPlanned: number;
  connectedClients: number;
  openRound: { id: number; deadline: number; sampled: number; answered: number } | null;
}

export interface DashboardClient extends ClientRecord {
  /** Joined and connected right now. */
  connected: boolean;
  /** When its last accepted update arrived (ms since epoch), or null. */
  lastUpdateAt: number | null;
}

/** One update as the dashboard lists it: accepted, or rejected with the reason. */
export interface DashboardUpdate {
  at: number;
  round: number;
  clientId: string;
  status: 'accepted' | 'rejected';
  /** `code: message` for a rejected update, null for an accepted one. */
  reason: string | null;
  numSamples: number | null;
  bytes: number | null;
}

/** One line of the dashboard's event log. */
export interface DashboardEvent {
  at: number;
  level: 'info' | 'warn';
  text: string;
}

export interface DashboardSnapshot {
  /** The coordinator's clock when the snapshot was taken, so pages can count down deadlines. */
  serverTime: number;
  status: DashboardStatus;
  teacher: { description: string; accuracy: number; loss: number | null };
  rounds: RoundRecord[];
  clients: DashboardClient[];
  /** The most recent updates, newest first (at most `DASHBOARD_UPDATE_LIMIT`). */
  updates: DashboardUpdate[];
  totals: { accepted: number; rejected: number };
  /** Demo shards the coordinator hands to browser clients (0 when not on the embedded split). */
  demoShards: number;
  /** What happened, newest first (at most `DASHBOARD_EVENT_LIMIT`). */
  events: DashboardEvent[];
  /** The end-of-run summary (sizes, inference speed, accuracy kept), once it is measured. */
  summary: RunSummary | null;
  /** The student's exports for download (`/api/model/<name>/<file>`), once the run exported it. */
  models: ModelVariant[];
}

export const DASHBOARD_EVENT_LIMIT = 300;

export const DASHBOARD_UPDATE_LIMIT = 200;

/** The socket.io namespace the dashboard listens on (read-only). */
export const DASHBOARD_NAMESPACE = '/dashboard';

/** Events the coordinator sends on the dashboard namespace; dashboards send none. */
export interface DashboardServerEvents {
  snapshot: (snapshot: DashboardSnapshot) => void;
}
