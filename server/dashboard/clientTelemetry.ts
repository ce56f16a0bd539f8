/**
 * What the dashboard's per-client view needs and the coordinator's events do
 * not carry: each client's label histogram (the optional `labelCounts` of its
 * join request) and its local training metrics of every accepted update.
 *
 * Read off the wire by a ClientHub decorator: it sees each join and update
 * with the coordinator's answer, and keeps a field only when the coordinator
 * accepted the message (so a refused or malformed message never shows up).
 * Memory is bounded: at most `maxClients` clients and `maxRounds` rounds each.
 */
import { z } from 'zod';
import type { TrainMetrics } from '../../shared/protocol/index.js';
import { trainMetricsSchema } from '../../shared/protocol/index.js';
import type { ClientHub, ClientLink } from '../clientHub.js';

/** One accepted update's local training metrics. */
export interface ClientRoundMetrics {
  round: number;
  loss: number;
  accuracy: number;
  trainMillis: number;
  steps: number;
  validationAccuracy: number | null;
}

export interface ClientTelemetryView {
  /** Samples per class label as the client reported at join, or null when it sent none. */
  labelCounts: number[] | null;
  /** Metrics of its accepted updates, in round order. */
  rounds: ClientRoundMetrics[];
}

const joinFieldsSchema = z.object({ labelCounts: z.array(z.number().int().min(0)).max(10_000) });
const updateFieldsSchema = z.object({
  roundId: z.number().int().min(1),
  metrics: trainMetricsSchema,
});
const acceptedJoinSchema = z.object({ ok: z.literal(true), clientId: z.string() });
const acceptedSchema = z.object({ ok: z.literal(true) });

export interface ClientTelemetryOptions {
  /** Clients remembered; later ones are not tracked. Defaults to 10,000. */
  maxClients?: number;
  /** Rounds kept per client (the latest). Defaults to 1,000. */
  maxRounds?: number;
}

export class ClientTelemetry {
  private readonly clients = new Map<string, ClientTelemetryView>();
  private readonly maxClients: number;
  private readonly maxRounds: number;

  constructor(options: ClientTelemetryOptions = {}) {
    this.maxClients = options.maxClients ?? 10_000;
    this.maxRounds = options.maxRounds ?? 1000;
  }

  private entry(clientId: string): ClientTelemetryView | undefined {
    let entry = this.clients.get(clientId);
    if (!entry && this.clients.size < this.maxClients) {
      entry = { labelCounts: null, rounds: [] };
      this.clients.set(clientId, entry);
    }
    return entry;
  }

  /** Records the label histogram of an accepted join. */
  recordJoin(clientId: string, labelCounts: number[]): void {
    const entry = this.entry(clientId);
    if (entry) entry.labelCounts = labelCounts;
  }

  /** Records the metrics of an accepted update (a repeated round replaces the earlier one). */
  recordUpdate(clientId: string, round: number, metrics: TrainMetrics): void {
    const entry = this.entry(clientId);
    if (!entry) return;
    const row: ClientRoundMetrics = {
      round,
      loss: metrics.loss,
      accuracy: metrics.accuracy,
      trainMillis: metrics.trainMillis,
      steps: metrics.steps,
      validationAccuracy: metrics.validationAccuracy ?? null,
    };
    entry.rounds = [...entry.rounds.filter((r) => r.round !== round), row]
      .sort((a, b) => a.round - b.round)
      .slice(-this.maxRounds);
  }

  /** What is known about one client. */
  view(clientId: string): ClientTelemetryView {
    const entry = this.clients.get(clientId);
    return entry
      ? { labelCounts: entry.labelCounts, rounds: [...entry.rounds] }
      : { labelCounts: null, rounds: [] };
  }

  /** Wraps a ClientHub so that accepted joins and updates are recorded here. */
  observe(hub: ClientHub): ClientHub {
    return {
      onConnection: (handler) => hub.onConnection((link) => handler(this.observeLink(link))),
      broadcast: (event, ...args) => hub.broadcast(event, ...args),
    };
  }

  private observeLink(link: ClientLink): ClientLink {
    const on: ClientLink['on'] = (event, handler) => {
      if (event !== 'join' && event !== 'update') return link.on(event, handler);
      const observed = (payload: unknown, ack: unknown) => {
        const answer = (response: unknown) => {
          // The coordinator's answer goes out first; nothing here can delay or change it.
          if (typeof ack === 'function') (ack as (response: unknown) => void)(response);
          try {
            this.note(event, link, payload, response);
          } catch {
            // Telemetry is best effort: never a reason to fail a client's message.
          }
        };
        (handler as (payload: unknown, ack: unknown) => void)(payload, answer);
      };
      link.on(event, observed as never);
    };
    return new Proxy(link, {
      get: (target, key, receiver) =>
        key === 'on' ? on : (Reflect.get(target, key, receiver) as unknown),
      set: (target, key, value) => Reflect.set(target, key, value),
    });
  }

  private note(event: 'join' | 'update', link: ClientLink, payload: unknown, response: unknown) {
    if (event === 'join') {
      const accepted = acceptedJoinSchema.safeParse(response);
      const fields = joinFieldsSchema.safeParse(payload);
      if (accepted.success && fields.success)
        this.recordJoin(accepted.data.clientId, fields.data.labelCounts);
      return;
    }
    const clientId = link.clientId;
    if (clientId === undefined || !acceptedSchema.safeParse(response).success) return;
    const fields = updateFieldsSchema.safeParse(payload);
    if (fields.success) this.recordUpdate(clientId, fields.data.roundId, fields.data.metrics);
  }
}
