/**
 * Who may connect, as whom, and who may control the run.
 *
 * - Shared join tokens (`tokens`, `--token`), or none: anyone holding one may
 *   connect and join. Such a connection has no identity beyond the client id
 *   the coordinator hands out and the rejoin secret that comes with it (the
 *   join ack's `rejoinSecret`, server/rejoinSecrets.ts): a join naming an id
 *   the run already knows must present that id's secret or is refused
 *   `unauthorized`, and the id's own connection is left alone. An id a
 *   per-client token owns is out of its reach even with the secret (below).
 * - Per-client tokens (`tokensFile`): each token belongs to one client name.
 *   The rule for a connection authenticated by client X's token:
 *   1. its joins are recorded under the name X (a name in the request is replaced);
 *   2. the first join accepted for X binds the client id it got to X; every
 *      later join with X's token continues as that id: a join without an id
 *      becomes a rejoin of it (the coordinator closes X's older connection, as
 *      on any rejoin), so one token is one client slot in the run;
 *   3. a join that names a client id bound to another name, or used by a
 *      shared-token client, or any id other than X's own once X has one, is
 *      refused `unauthorized` and the connection is closed.
 *   A shared-token connection may not name an id that a per-client token owns.
 *   Ids known from an interrupted run (resume) are bound again from SQLite.
 *   The token is the proof here, so no rejoin secret is demanded: every join
 *   is answered with a secret (the one presented, if it is right, else a new
 *   one that replaces it), and a device that lost its secret rejoins with its
 *   token alone. Rule 3 keeps any other connection off X's id.
 * - Admin token (`adminToken`): `Authorization: Bearer <token>` on
 *   `/api/admin/*` (stop the run, export the student).
 *
 * Token comparisons take constant time (SHA-256 digests, timingSafeEqual).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const PENDING_JOIN_MS = 10_000;

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Constant-time string equality (over SHA-256 digests, so lengths leak nothing either). */
export function tokenEquals(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** The value of `Authorization: Bearer <token>`, or '' when absent. */
export function bearerToken(header: string | undefined): string {
  return header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : '';
}

/** Who a connection is: a per-client name, or `null` for a shared token (or no tokens at all). */
export type Principal = string | null;

type Refusal = { ok: false; error: { code: 'unauthorized'; message: string } };

/** The part of a server-side socket the join guard needs. */
export interface GuardedSocket {
  use(fn: (packet: unknown[], next: (error?: Error) => void) => void): void;
  disconnect(close: boolean): void;
}

export class JoinAuthority {
  private readonly sharedTokens: readonly string[];
  private readonly clientTokens: [name: string, token: string][];
  /** Client id → the principal that owns it. */
  private readonly owners = new Map<string, Principal>();
  /** Per-client name → its bound id. */
  private readonly idOf = new Map<string, string>();
  /** Per-client names with a join in flight → until when that holds (a dropped join expires). */
  private readonly pending = new Map<string, number>();

  /**
   * @param known clients of the run so far (a resumed run): ids recorded under a
   *   per-client name are bound to it again, any other id counts as shared.
   */
  constructor(options: {
    tokens: readonly string[];
    clientTokens?: ReadonlyMap<string, string>;
    known?: readonly { id: string; name: string | null }[];
  }) {
    this.sharedTokens = options.tokens;
    this.clientTokens = [...(options.clientTokens ?? new Map<string, string>())];
    const names = new Set(this.clientTokens.map(([name]) => name));
    for (const client of options.known ?? [])
      this.bind(client.id, client.name !== null && names.has(client.name) ? client.name : null);
  }

  /** True when a token is needed to connect. */
  get required(): boolean {
    return this.sharedTokens.length > 0 || this.clientTokens.length > 0;
  }

  /** Every token that may fetch artifacts over HTTP. */
  get joinTokens(): string[] {
    return [...this.sharedTokens, ...this.clientTokens.map(([, token]) => token)];
  }

  /**
   * Checks a handshake token. Every configured token is compared, so the time
   * taken does not say which matched.
   * @returns the principal, or `undefined` when the token is not accepted.
   */
  authenticate(token: string | undefined): { principal: Principal } | undefined {
    if (!this.required) return { principal: null };
    const given = token ?? '';
    let principal: Principal | undefined;
    for (const shared of this.sharedTokens)
      if (tokenEquals(given, shared) && principal === undefined) principal = null;
    for (const [name, clientToken] of this.clientTokens)
      if (tokenEquals(given, clientToken)) principal = name;
    return principal === undefined ? undefined : { principal };
  }

  private bind(clientId: string, principal: Principal): void {
    if (this.owners.has(clientId)) return;
    this.owners.set(clientId, principal);
    if (principal !== null && !this.idOf.has(principal)) this.idOf.set(principal, clientId);
  }

  /**
   * Applies the rule to one join request from `principal`.
   * @returns the request to hand on (possibly rewritten), or why it is refused.
   */
  checkJoin(principal: Principal, request: unknown): { request: unknown } | { refused: string } {
    if (typeof request !== 'object' || request === null || Array.isArray(request))
      return { request }; // the coordinator's schema refuses it
    const fields = request as Record<string, unknown>;
    const wanted = typeof fields.clientId === 'string' ? fields.clientId : undefined;
    const owner = wanted === undefined ? undefined : this.owners.get(wanted);
    if (principal === null) {
      if (typeof owner === 'string')
        return { refused: `client id ${wanted} belongs to a per-client token` };
      return { request };
    }
    const own = this.idOf.get(principal);
    if (wanted !== undefined && wanted !== own && (own !== undefined || owner !== undefined))
      return { refused: `client id ${wanted} does not belong to ${principal}` };
    return {
      request: { ...fields, name: principal, ...(own !== undefined ? { clientId: own } : {}) },
    };
  }

  /**
   * Guards the `join` events of one connection (socket.io per-socket
   * middleware): rewrites or refuses them by the rule above and binds the id
   * of every accepted join to `principal`. A per-client join must ask for an
   * ack (the id it gets is bound from it) and may not overlap another join
   * of the same name.
   */
  guard(socket: GuardedSocket, principal: Principal): void {
    socket.use((packet, next) => {
      if (packet[0] !== 'join') return next();
      const last = packet.length - 1;
      const ack =
        packet.length > 2 && typeof packet[last] === 'function'
          ? (packet[last] as (response: unknown) => void)
          : undefined;
      const refuse = (message: string) => {
        const refusal: Refusal = { ok: false, error: { code: 'unauthorized', message } };
        ack?.(refusal);
        socket.disconnect(true);
      };
      if (principal !== null && !ack)
        return refuse('a join with a per-client token must ask for an acknowledgement');
      if (principal !== null && (this.pending.get(principal) ?? 0) > Date.now())
        return refuse(`another join of ${principal} is in progress`);
      const verdict = this.checkJoin(principal, packet[1]);
      if ('refused' in verdict) return refuse(verdict.refused);
      packet[1] = verdict.request;
      if (ack) {
        if (principal !== null) this.pending.set(principal, Date.now() + PENDING_JOIN_MS);
        packet[last] = (response: unknown) => {
          if (principal !== null) this.pending.delete(principal);
          const accepted = response as { ok?: unknown; clientId?: unknown } | undefined;
          if (accepted?.ok === true && typeof accepted.clientId === 'string')
            this.bind(accepted.clientId, principal);
          ack(response);
        };
      }
      next();
    });
  }
}
