/**
 * Who is in the run: the connected clients (one connection per client id),
 * joins and rejoins (held to the rejoin secret the first join was given),
 * departures, exclusions (secure aggregation's complaints) and the wait for
 * enough clients before a round.
 */
import { randomUUID } from 'node:crypto';
import type { ErrorCode, JoinRequest } from '../../shared/protocol/index.js';
import type { ClientLink } from '../clientHub.js';
import { settleRejoinSecret } from '../rejoinSecrets.js';
import type { RunStore } from '../store.js';
import type { CoordinatorEvent } from './events.js';

/** The client id refusals of a connection that has not joined are attributed to. */
export const UNJOINED = '(unjoined)';

export interface Member {
  link: ClientLink;
  platform: string;
  backend: string;
  numSamples: number;
}

/** A join that was let in: the id the client now holds, and the secret for its next rejoin. */
export interface Admission {
  clientId: string;
  rejoin: boolean;
  rejoinSecret: string;
}

export class MembershipRefusal extends Error {
  override readonly name = 'MembershipRefusal';
  constructor(
    message: string,
    readonly code: ErrorCode,
  ) {
    super(message);
  }
}

export class Membership {
  private readonly members = new Map<string, Member>();
  /** Secure aggregation: who could not open whose key shares (accused → accusers), and who is out. */
  private readonly complaints = new Map<string, Set<string>>();
  private readonly excluded = new Set<string>();
  private changed: (() => void) | undefined;

  constructor(
    private readonly runId: string,
    private readonly store: RunStore,
    private readonly emit: (event: CoordinatorEvent) => void,
  ) {}

  get size(): number {
    return this.members.size;
  }

  ids(): string[] {
    return [...this.members.keys()];
  }

  get(clientId: string): Member | undefined {
    return this.members.get(clientId);
  }

  has(clientId: string): boolean {
    return this.members.has(clientId);
  }

  isExcluded(clientId: string): boolean {
    return this.excluded.has(clientId);
  }

  /** Samples `clientId` joined with (0 once it has left). */
  numSamplesOf(clientId: string): number {
    return this.members.get(clientId)?.numSamples ?? 0;
  }

  /**
   * Lets a join in, or throws MembershipRefusal. Checked before anything changes: a refused
   * join must not close the real client's connection.
   */
  admit(link: ClientLink, request: JoinRequest): Admission {
    if (request.clientId === UNJOINED)
      throw new MembershipRefusal(`join: clientId ${UNJOINED} is reserved`, 'invalid-payload');
    if (request.clientId !== undefined && this.excluded.has(request.clientId))
      throw new MembershipRefusal(
        `client ${request.clientId} is excluded from run ${this.runId}: other clients could not open its key shares`,
        'unauthorized',
      );
    const rejoin = request.clientId !== undefined;
    const clientId = request.clientId ?? randomUUID();
    const secret = settleRejoinSecret(
      rejoin ? this.store.rejoinSecretHash(this.runId, clientId) : undefined,
      request.rejoinSecret,
      link.tokenName !== undefined,
    );
    if (!secret)
      throw new MembershipRefusal(
        `client id ${clientId} is taken: a rejoin must present the rejoinSecret its first join was given`,
        'unauthorized',
      );
    const previous = this.members.get(clientId);
    if (previous && previous.link !== link) previous.link.disconnect();
    link.clientId = clientId;
    this.members.set(clientId, {
      link,
      platform: request.platform,
      backend: request.backend,
      numSamples: request.numSamples,
    });
    const now = Date.now();
    this.store.upsertClient({
      id: clientId,
      runId: this.runId,
      name: request.name ?? null,
      platform: request.platform,
      backend: request.backend,
      numSamples: request.numSamples,
      firstSeen: now,
      lastSeen: now,
    });
    if (secret.newHash) this.store.setRejoinSecretHash(this.runId, clientId, secret.newHash);
    this.emit({
      type: 'client:joined',
      clientId,
      platform: request.platform,
      backend: request.backend,
      numSamples: request.numSamples,
      name: request.name ?? null,
      rejoin,
    });
    this.changed?.();
    return { clientId, rejoin, rejoinSecret: secret.secret };
  }

  /** The connection closed; returns the client it held, if it was that client's current one. */
  leave(link: ClientLink): string | undefined {
    const id = link.clientId;
    if (!id || this.members.get(id)?.link !== link) return undefined;
    this.members.delete(id);
    this.emit({ type: 'client:left', clientId: id });
    this.changed?.();
    return id;
  }

  /**
   * Complaints cannot be checked (only the two ends of a pairwise channel can open it), so one
   * never excludes anyone: `needed` different accusers do.
   */
  noteComplaint(
    roundId: number,
    accuser: string,
    accused: readonly string[],
    needed: number,
  ): void {
    this.emit({ type: 'secure:complaint', roundId, clientId: accuser, about: [...accused] });
    for (const clientId of accused) {
      const accusers = this.complaints.get(clientId) ?? new Set<string>();
      accusers.add(accuser);
      this.complaints.set(clientId, accusers);
      if (accusers.size < needed || this.excluded.has(clientId)) continue;
      this.excluded.add(clientId);
      this.emit({ type: 'client:excluded', clientId, accusers: [...accusers] });
      this.members.get(clientId)?.link.disconnect('cut-off');
    }
  }

  /**
   * Waits until `minClients` are connected, or `waitForClientsMs` has passed with at least
   * `fewest` connected; resolves with the connected ids, or [] once `stopped()`.
   */
  async waitFor(
    minClients: number,
    waitForClientsMs: number,
    fewest: number,
    stopped: () => boolean,
  ): Promise<string[]> {
    const started = Date.now();
    while (!stopped()) {
      const connected = this.ids();
      const waited = Date.now() - started;
      if (
        connected.length >= minClients ||
        (connected.length >= fewest && waited >= waitForClientsMs)
      )
        return connected;
      this.emit({ type: 'waiting', connected: connected.length, needed: minClients });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(50, Math.min(1000, waitForClientsMs - waited)));
        this.changed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.changed = undefined;
    }
    return [];
  }

  /** Wakes a pending `waitFor` (the run is stopping). */
  wake(): void {
    this.changed?.();
  }
}
