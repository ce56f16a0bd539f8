/**
 * The coordinator's Prometheus metrics (prom-client), fed only by its event
 * stream (`coordinator.subscribe`): rounds by status, accepted updates and
 * refused ones by reason code, bytes down and up, connected clients, round
 * durations, and the student's accuracy and agreement with the teacher.
 * One registry per coordinator, so several in one process (tests) never share
 * a counter. Counters start at zero with the process: a resumed run's earlier
 * rounds are in SQLite, and Prometheus reads the restart as a counter reset.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CoordinatorEvent } from '../coordinator.js';
import type { RoundRecord } from '../store.js';

export interface CoordinatorMetricsOptions {
  runId: string;
  roundsPlanned: number;
  /** The teacher's accuracy on the test split, known before the first round. */
  teacherAccuracy: number;
  /** Also export Node's process metrics (CPU, memory, event-loop lag, GC). Defaults to true. */
  processMetrics?: boolean;
}

/** Histogram buckets for round durations, in seconds: sub-second simulation rounds to 20-minute device rounds. */
export const ROUND_DURATION_BUCKETS = [0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200];

export class CoordinatorMetrics {
  readonly registry = new Registry();
  private readonly connected = new Set<string>();
  private readonly rounds: Counter<'status'>;
  private readonly accepted: Counter;
  private readonly refused: Counter<'reason'>;
  private readonly bytes: Counter<'direction'>;
  private readonly cutOffs: Counter;
  private readonly faults: Counter<'where'>;
  private readonly connectedClients: Gauge;
  private readonly roundDuration: Histogram;
  private readonly studentAccuracy: Gauge;
  private readonly teacherAccuracy: Gauge;
  private readonly agreement: Gauge;
  private readonly modelVersion: Gauge;
  private readonly staleness: Gauge<'stat'>;

  constructor(options: CoordinatorMetricsOptions) {
    const registers = [this.registry];
    new Gauge({
      name: 'fedistill_run_info',
      help: 'The run this coordinator serves (always 1; the run id is the label).',
      labelNames: ['run_id'],
      registers,
    }).set({ run_id: options.runId }, 1);
    new Gauge({
      name: 'fedistill_rounds_planned',
      help: 'Rounds to aggregate before the run ends.',
      registers,
    }).set(options.roundsPlanned);
    this.rounds = new Counter({
      name: 'fedistill_rounds_total',
      help: 'Rounds closed, by status: aggregated, or failed (below quorum).',
      labelNames: ['status'],
      registers,
    });
    // Both statuses exist from the start, so a rate() over them is defined before the first failure.
    this.rounds.inc({ status: 'aggregated' }, 0);
    this.rounds.inc({ status: 'failed' }, 0);
    this.accepted = new Counter({
      name: 'fedistill_updates_accepted_total',
      help: 'Client updates accepted into a round.',
      registers,
    });
    this.refused = new Counter({
      name: 'fedistill_updates_refused_total',
      help: "Client messages refused, by the refusal's reason code (docs/protocol.md).",
      labelNames: ['reason'],
      registers,
    });
    this.bytes = new Counter({
      name: 'fedistill_traffic_bytes_total',
      help: 'Bytes of round traffic as the coordinator counts them: down = round messages to sampled clients, up = their updates (and secure-aggregation steps).',
      labelNames: ['direction'],
      registers,
    });
    this.bytes.inc({ direction: 'down' }, 0);
    this.bytes.inc({ direction: 'up' }, 0);
    this.cutOffs = new Counter({
      name: 'fedistill_client_cutoffs_total',
      help: 'Connections disconnected for sending too many refused messages.',
      registers,
    });
    this.faults = new Counter({
      name: 'fedistill_coordinator_faults_total',
      help: 'Steps of the coordinator outside a handler that threw and were skipped (an ack to a broken link, a dispatch), by where.',
      labelNames: ['where'],
      registers,
    });
    this.connectedClients = new Gauge({
      name: 'fedistill_connected_clients',
      help: 'Clients joined and connected now.',
      registers,
    });
    this.roundDuration = new Histogram({
      name: 'fedistill_round_duration_seconds',
      help: 'Time from a round starting to its close, in seconds.',
      buckets: ROUND_DURATION_BUCKETS,
      registers,
    });
    this.studentAccuracy = new Gauge({
      name: 'fedistill_student_accuracy',
      help: "The global student's accuracy on the test split after the last aggregated round (0..1).",
      registers,
    });
    this.teacherAccuracy = new Gauge({
      name: 'fedistill_teacher_accuracy',
      help: "The teacher's accuracy on the test split (0..1).",
      registers,
    });
    this.teacherAccuracy.set(options.teacherAccuracy);
    this.agreement = new Gauge({
      name: 'fedistill_student_teacher_agreement',
      help: 'Share of test samples on which the student and the teacher predict the same class (0..1).',
      registers,
    });
    this.modelVersion = new Gauge({
      name: 'fedistill_model_version',
      help: "The global student's version: rounds aggregated into it.",
      registers,
    });
    this.staleness = new Gauge({
      name: 'fedistill_round_staleness',
      help: 'Asynchronous rounds (fedbuff): mean and largest staleness of the updates in the last aggregation, in model versions.',
      labelNames: ['stat'],
      registers,
    });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** A resumed run: the gauges start where its completed rounds left them (counters start at zero). */
  resumeFrom(rounds: readonly RoundRecord[]): void {
    const last = rounds.filter((r) => r.status === 'aggregated').at(-1);
    if (!last) return;
    this.modelVersion.set(last.modelVersion);
    if (last.studentAccuracy !== null) this.studentAccuracy.set(last.studentAccuracy);
    if (last.agreement !== null) this.agreement.set(last.agreement);
  }

  /** Feeds one coordinator event; pass it to `coordinator.subscribe`. */
  observe(event: CoordinatorEvent): void {
    switch (event.type) {
      case 'client:joined':
        this.connected.add(event.clientId);
        this.connectedClients.set(this.connected.size);
        return;
      case 'client:left':
        this.connected.delete(event.clientId);
        this.connectedClients.set(this.connected.size);
        return;
      case 'client:cut-off':
        this.cutOffs.inc();
        return;
      case 'coordinator:fault':
        this.faults.inc({ where: event.where });
        return;
      case 'update:accepted':
        this.accepted.inc();
        return;
      case 'update:rejected':
        this.refused.inc({ reason: event.code });
        return;
      case 'round:closed': {
        const r = event.record;
        this.rounds.inc({ status: r.status });
        this.roundDuration.observe(r.durationMs / 1000);
        // The record keeps per-client figures; the totals are what crossed the wire.
        this.bytes.inc({ direction: 'down' }, r.bytesDownPerClient * r.sampled);
        this.bytes.inc({ direction: 'up' }, Math.round(r.bytesUpPerClient * r.participants));
        this.modelVersion.set(r.modelVersion);
        if (r.studentAccuracy !== null) this.studentAccuracy.set(r.studentAccuracy);
        if (r.teacherAccuracy !== null) this.teacherAccuracy.set(r.teacherAccuracy);
        if (r.agreement !== null) this.agreement.set(r.agreement);
        if (typeof r.meanStaleness === 'number')
          this.staleness.set({ stat: 'mean' }, r.meanStaleness);
        if (typeof r.maxStaleness === 'number') this.staleness.set({ stat: 'max' }, r.maxStaleness);
        return;
      }
      default:
        return;
    }
  }

  /** The Prometheus text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
