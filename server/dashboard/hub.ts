/**
 * Keeps what the dashboard shows and pushes it live: follows the
 * coordinator's events (who is connected, the latest updates with their
 * reasons), assembles snapshots from the coordinator's status and the SQLite
 * store, and broadcasts them on the read-only `/dashboard` namespace.
 *
 * The coordinator's auth middleware (`io.use`) guards only the main
 * namespace; this namespace carries nothing but public run statistics (the
 * same as `/api/status`), and handlers for inbound events are never
 * registered, so a dashboard socket cannot change anything.
 */
import type { Namespace, Server } from 'socket.io';
import type { CoordinatorEvent } from '../coordinator.js';
import type { CoordinatorServer } from '../socketHub.js';
import type { RunStore } from '../store.js';
import type {
  DashboardClient,
  DashboardServerEvents,
  DashboardSnapshot,
  DashboardStatus,
  DashboardUpdate,
} from './snapshot.js';
import { DASHBOARD_NAMESPACE, DASHBOARD_UPDATE_LIMIT } from './snapshot.js';

/** The parts of a Coordinator the dashboard reads. */
export interface DashboardSource {
  readonly runId: string;
  status(): Record<string, unknown>;
  subscribe(listener: (event: CoordinatorEvent) => void): () => void;
}

export interface DashboardHubOptions {
  coordinator: DashboardSource;
  store: RunStore;
  io: CoordinatorServer;
  teacher: { description: string; accuracy: number; loss: number | null };
  demoShards: number;
  /** Least time between two pushed snapshots. Defaults to 250 ms. */
  throttleMs?: number;
  /**
   * Pushes a snapshot this often even without events, so changes that raise
   * none (the run ending, a deadline passing) reach open dashboards. Defaults to 2 s.
   */
  refreshMs?: number;
}

type DashboardNamespace = Namespace<Record<string, never>, DashboardServerEvents>;

export class DashboardHub {
  private readonly connected = new Set<string>();
  private readonly lastUpdateAt = new Map<string, number>();
  private readonly recent: DashboardUpdate[] = [];
  private readonly totals = { accepted: 0, rejected: 0 };
  private readonly nsp: DashboardNamespace;
  private readonly unsubscribe: () => void;
  private timer: NodeJS.Timeout | undefined;
  private readonly refresh: NodeJS.Timeout;

  constructor(private readonly options: DashboardHubOptions) {
    // The typed server's event maps are the federation protocol's; this namespace has its own.
    const server = options.io as unknown as Server<Record<string, never>, DashboardServerEvents>;
    this.nsp = server.of(DASHBOARD_NAMESPACE);
    this.nsp.on('connection', (socket) => socket.emit('snapshot', this.snapshot()));
    this.unsubscribe = options.coordinator.subscribe((event) => this.onEvent(event));
    this.refresh = setInterval(() => this.schedulePush(), options.refreshMs ?? 2000);
    this.refresh.unref();
  }

  private onEvent(event: CoordinatorEvent): void {
    const now = Date.now();
    switch (event.type) {
      case 'client:joined':
        this.connected.add(event.clientId);
        break;
      case 'client:left':
        this.connected.delete(event.clientId);
        break;
      case 'update:accepted':
        this.totals.accepted += 1;
        this.lastUpdateAt.set(event.clientId, now);
        this.remember({
          at: now,
          round: event.roundId,
          clientId: event.clientId,
          status: 'accepted',
          reason: null,
          numSamples: event.numSamples,
          bytes: event.bytes,
        });
        break;
      case 'update:rejected':
        this.totals.rejected += 1;
        this.remember({
          at: now,
          round: event.roundId,
          clientId: event.clientId,
          status: 'rejected',
          reason: `${event.code}: ${event.message}`,
          numSamples: null,
          bytes: null,
        });
        break;
      default:
        break;
    }
    this.schedulePush();
  }

  private remember(update: DashboardUpdate): void {
    this.recent.unshift(update);
    if (this.recent.length > DASHBOARD_UPDATE_LIMIT) this.recent.length = DASHBOARD_UPDATE_LIMIT;
  }

  private schedulePush(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.nsp.sockets.size > 0) this.nsp.emit('snapshot', this.snapshot());
    }, this.options.throttleMs ?? 250);
  }

  /** Everything the dashboard shows, now. */
  snapshot(): DashboardSnapshot {
    const { coordinator, store } = this.options;
    const clients: DashboardClient[] = store.clients(coordinator.runId).map((client) => ({
      ...client,
      connected: this.connected.has(client.id),
      lastUpdateAt: this.lastUpdateAt.get(client.id) ?? null,
    }));
    return {
      serverTime: Date.now(),
      status: coordinator.status() as unknown as DashboardStatus,
      teacher: this.options.teacher,
      rounds: store.rounds(coordinator.runId),
      clients,
      updates: [...this.recent],
      totals: { ...this.totals },
      demoShards: this.options.demoShards,
    };
  }

  /** Stops following the coordinator and disconnects dashboards. */
  close(): void {
    clearInterval(this.refresh);
    clearTimeout(this.timer);
    this.timer = undefined;
    this.unsubscribe();
    this.nsp.disconnectSockets(true);
  }
}
