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
import type { RunSummary } from '../summary.js';
import type { ClientTelemetry } from './clientTelemetry.js';
import { modelVariants } from './modelFiles.js';
import type {
  DashboardClient,
  DashboardEvent,
  DashboardServerEvents,
  DashboardSnapshot,
  DashboardStatus,
  DashboardUpdate,
} from './snapshot.js';
import { DASHBOARD_EVENT_LIMIT, DASHBOARD_NAMESPACE, DASHBOARD_UPDATE_LIMIT } from './snapshot.js';

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
  /** The run's folder (`<dataDir>/runs/<runId>`), where the student is exported. */
  runDir: string;
  /** Per-client label histograms and local metrics (clientTelemetry.ts). */
  telemetry: ClientTelemetry;
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
  private readonly events: DashboardEvent[] = [];
  private summary: RunSummary | null = null;
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

  private log(level: DashboardEvent['level'], text: string): void {
    // The coordinator repeats `waiting` every second while nothing changes: one line is enough.
    if (this.events[0]?.text === text) return;
    this.events.unshift({ at: Date.now(), level, text });
    if (this.events.length > DASHBOARD_EVENT_LIMIT) this.events.length = DASHBOARD_EVENT_LIMIT;
  }

  private onEvent(event: CoordinatorEvent): void {
    const line = describeEvent(event);
    if (line) this.log(line.level, line.text);
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

  /** Shows the end-of-run summary (measured after the run, so it arrives after `run:ended`). */
  setSummary(summary: RunSummary): void {
    this.summary = summary;
    this.log(
      'info',
      `summary: student ${summary.timesSmaller.toFixed(1)}× smaller, ${summary.timesFaster.toFixed(1)}× faster, keeps ${summary.shareOfTeacherAccuracy === null ? 'n/a' : `${(summary.shareOfTeacherAccuracy * 100).toFixed(1)}%`} of the teacher's accuracy`,
    );
    this.schedulePush();
  }

  /** A line for the event log from outside the coordinator (linger, shutdown). */
  note(text: string): void {
    this.log('info', text);
    this.schedulePush();
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
      events: [...this.events],
      summary: this.summary,
      // The student is exported when the run ends; quantised variants may follow.
      models: coordinator.status().state === 'training' ? [] : modelVariants(this.options.runDir),
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

/** The event log's line for a coordinator event, or undefined for those it leaves out. */
export function describeEvent(
  event: CoordinatorEvent,
): { level: DashboardEvent['level']; text: string } | undefined {
  const id = (clientId: string | null) => (clientId === null ? 'unjoined' : clientId.slice(0, 8));
  switch (event.type) {
    case 'client:joined':
      return {
        level: 'info',
        text: `${event.rejoin ? 'rejoined' : 'joined'}: ${event.name ?? id(event.clientId)} (${event.platform}, ${event.backend}, ${event.numSamples} samples)`,
      };
    case 'client:left':
      return { level: 'info', text: `left: ${id(event.clientId)}` };
    case 'client:cut-off':
      return {
        level: 'warn',
        text: `cut off: ${id(event.clientId)} after ${event.refusals} refused messages`,
      };
    case 'client:excluded':
      return {
        level: 'warn',
        text: `excluded: ${id(event.clientId)} (accused by ${event.accusers.length})`,
      };
    case 'round:started':
      return {
        level: 'info',
        text: `round ${event.roundId} started: ${event.sampled.length} clients sampled`,
      };
    case 'update:rejected':
      return {
        level: 'warn',
        text: `round ${event.roundId}: update from ${id(event.clientId)} refused (${event.code}: ${event.message})`,
      };
    case 'round:secure':
      return event.error
        ? { level: 'warn', text: `round ${event.roundId}: secure sum failed: ${event.error}` }
        : {
            level: 'info',
            text: `round ${event.roundId}: secure sum of ${event.survivors}/${event.sampled} (t = ${event.threshold})`,
          };
    case 'round:closed': {
      const r = event.record;
      const acc =
        r.studentAccuracy === null ? '' : `, student ${(r.studentAccuracy * 100).toFixed(2)}%`;
      return {
        level: r.status === 'aggregated' ? 'info' : 'warn',
        text: `round ${r.round} ${r.status}: ${r.participants}/${r.sampled} updates${acc}, ${(r.durationMs / 1000).toFixed(1)} s`,
      };
    }
    case 'run:ended':
      return {
        level: 'info',
        text: `run ${event.status} after ${event.roundsAggregated} aggregated rounds`,
      };
    case 'coordinator:fault':
      return {
        level: 'warn',
        text: `coordinator fault (${event.where}), skipped: ${event.message}`,
      };
    case 'waiting':
      return { level: 'info', text: `waiting for clients: ${event.connected}/${event.needed}` };
    default:
      return undefined;
  }
}
