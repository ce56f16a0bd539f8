/**
 * An edge aggregator (`fedistill edge`): terminates client sockets
 * (socket.io, websocket only, so any TCP load balancer may spread clients over
 * edges without sticky sessions), serves the run's content-addressed
 * artifacts from Redis, and relays joins, abstentions and acks to the master
 * over the Redis control plane. An update is checked here exactly as the
 * coordinator checks one (the same schema, decodeDelta and update bound);
 * the master then checks the rest (round, deadline, sampling, duplicates,
 * model version) on the update without its delta — a claim — and only once
 * it grants the claim is the delta folded into this edge's partial sum, which
 * goes to the master once, when the round closes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { Server } from 'socket.io';
import type { Socket } from 'socket.io';
import { createSocketParser } from '../../shared/codec/index.js';
import type { ErrorCode, RoundStart, UpdateMessage } from '../../shared/protocol/index.js';
import {
  PROTOCOL_VERSION,
  abstainSchema,
  handshakeAuthSchema,
  joinRequestSchema,
  updateSchema,
} from '../../shared/protocol/index.js';
import { ARTIFACT_ROUTE } from '../artifacts.js';
import { JoinAuthority } from '../auth.js';
import { judgeDelta } from '../robustness/index.js';
import type { BoundVerdict, UpdateBoundConfig } from '../robustness/index.js';
import { ContributionError, decodeDelta, refuseFields } from '../strategies/index.js';
import { describeIssues, refusal } from '../coordinator/refusals.js';
import { StrikeCounter } from '../strikes.js';
import { checkEdgeSecret, newIncarnation } from './envelope.js';
import type { DownMessage, ForwardedEvent, RefusalTally, RoundOpen } from './messages.js';
import { FORWARDED_EVENTS } from './messages.js';
import { PartialSum } from './partialSum.js';
import { EdgeEpochs, screenBufferedDelta } from './edgeEpochs.js';
import { EdgeSecureGroups } from './edgeSecureGroup.js';
import type { ReadEntry } from './redisControlPlane.js';
import { SignedReader, SignedWriter, edgeKeys, openRedis } from './redisControlPlane.js';
import { sendArtifact, sendJson } from '../httpResponses.js';
import { RedisOutage } from './redisOutage.js';

export interface EdgeOptions {
  redis: string;
  /** The master's edge secret (at least 16 characters). */
  secret: string;
  /** The master's `--edge-cluster`. Defaults to `default`. */
  cluster?: string;
  /** This edge's name, unique among the cluster's edges. Defaults to host-pid-random. */
  id?: string;
  host?: string;
  port?: number;
  /** Join tokens clients must present (as the master's `--token`); none: anyone may join. */
  tokens?: readonly string[];
  /** Largest socket.io message accepted, in bytes. Defaults to 64 MiB. */
  maxMessageBytes?: number;
  /**
   * Updates this edge refuses itself that a connection may send within `refusalWindowMs` before
   * it is disconnected (the master's `maxRefusals`). Defaults to 20.
   */
  maxRefusals?: number;
  /** Defaults to 60 s. */
  refusalWindowMs?: number;
  /**
   * How long a forwarded event (join, claim, abstain) waits for the master's answer before the
   * client is answered with an `internal` refusal. Defaults to 30,000 ms.
   */
  answerTimeoutMs?: number;
  /** A connection that has not joined this long after connecting is closed (the master's joinTimeoutMs). Defaults to 15,000 ms. */
  joinTimeoutMs?: number;
  /** How often the edge tells the master it is alive. Defaults to 1000 ms. */
  heartbeatMs?: number;
  /** Redis away this long mid-run is a failure: `failed` resolves. Defaults to 120,000 ms. */
  outageLimitMs?: number;
  log?: (message: string, level?: 'warn') => void;
}

export interface RunningEdge {
  readonly id: string;
  readonly url: string;
  readonly port: number;
  /** Resolves with the reason when the edge cannot go on (Redis away past its limit). */
  readonly failed: Promise<string>;
  close(): Promise<void>;
}

interface EdgeRound {
  roundId: number;
  numParams: number;
  /** The master's bound for the round: its norm bound and the limits it applies. */
  updateBound: UpdateBoundConfig;
  normBound: number;
  partial: PartialSum;
  refusals: RefusalTally;
  bytesIn: number;
}

/** A forwarded event's answer; a buffered round's claim's comes with the master's grant. */
type Ack = (response: unknown, grant?: unknown) => void;

/** How long after Redis came back an artifact missing there is looked for again. */
const ARTIFACT_REPUBLISH_WAIT_MS = 5000;

export async function startEdge(options: EdgeOptions): Promise<RunningEdge> {
  const log = options.log ?? (() => undefined);
  const secret = checkEdgeSecret(options.secret);
  const id = options.id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(id))
    throw new Error(`--id '${id}': letters, digits, '.', '_' and '-' only, at most 100`);
  const keys = edgeKeys(options.cluster ?? 'default');
  // Set once the watch exists (after the connections): while an outage lasts, its one line says
  // so instead of a line per reconnection attempt; once closing, nothing is said.
  const watch: { outage?: RedisOutage } = {};
  let closing = false;
  const onRedisError = (error: Error) => {
    if (!closing && !watch.outage?.down) log(`Redis: ${error.message}`, 'warn');
  };
  const redis = await openRedis(options.redis, onRedisError);
  const readerConnection = redis.duplicate();
  readerConnection.on('error', onRedisError);
  // This process's incarnation: in every entry's seal, and in its link ids, so that neither the
  // master's links of an earlier process under the same --id nor acks meant for them match
  // this one's.
  const incarnation = newIncarnation();
  const writer = new SignedWriter(redis, secret, 'up', incarnation);
  const up = (message: unknown) => {
    writer.send(keys.up, id, message).written.catch((error: Error) => onRedisError(error));
  };

  const authority = new JoinAuthority({ tokens: options.tokens ?? [] });
  const maxBytes = options.maxMessageBytes ?? 64 * 1024 * 1024;
  const sockets = new Map<string, Socket>();
  /**
   * Acks awaited from the master, by link and request: answered with a refusal when the master
   * does not answer in time, so it cannot grow unbounded. When the link disconnects only the
   * claims' entries stay (`afterGone`): a claim the master grants is counted there, so its delta
   * is folded here even when its client has gone by the time the grant arrives.
   */
  const pending = new Map<
    string,
    Map<number, { onAck: Ack; timer: NodeJS.Timeout | undefined; afterGone: boolean }>
  >();
  const answerTimeoutMs = options.answerTimeoutMs ?? 30_000;
  const takePending = (link: string, req: number) => {
    const waiting = pending.get(link);
    const entry = waiting?.get(req);
    if (!waiting || !entry) return undefined;
    clearTimeout(entry.timer);
    waiting.delete(req);
    if (waiting.size === 0) pending.delete(link);
    return entry.onAck;
  };
  let nextReq = 0;
  let nextLink = 0;
  let round: EdgeRound | undefined;
  let lastClosed = 0;
  /** Set by the first opening of a buffered round (fedbuff): its buffers' partials. */
  let buffered: EdgeEpochs | undefined;
  const shared = new Map<number, unknown>();
  /** This edge's joined connections by client id: a secure group's steps go to its members. */
  const byClient = new Map<string, Socket>();
  const secure = new EdgeSecureGroups({
    send: (clientId, message) => byClient.get(clientId)?.emit('secagg', message),
    log,
  });

  let fail: (reason: string) => void = () => undefined;
  const failed = new Promise<string>((resolve) => (fail = resolve));
  let backAt = 0;
  const outage = new RedisOutage(
    options.redis,
    [redis, readerConnection],
    'joins, updates and partial sums for the master (queued)',
    {
      lost: (message) => log(message, 'warn'),
      back: (awayMs) => {
        backAt = Date.now();
        log(`Redis is back after ${(awayMs / 1000).toFixed(1)} s: forwarding again`);
      },
      gaveUp: (message) => {
        log(`${message}: the edge stops`, 'warn');
        fail(message);
      },
    },
    options.outageLimitMs,
  );
  watch.outage = outage;
  // The master's incarnation, from the entries it writes here: a new one is a restarted master.
  let masterIncarnation: string | undefined;

  const artifacts = new Map<string, Uint8Array>();
  const artifact = async (hash: string): Promise<Uint8Array | undefined> => {
    const held = artifacts.get(hash);
    if (held) return held;
    let stored = await redis.getBuffer(keys.artifact(hash));
    // Just after Redis came back empty the master may not have put the artifacts back yet.
    while (!stored && Date.now() - backAt < ARTIFACT_REPUBLISH_WAIT_MS) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      stored = await redis.getBuffer(keys.artifact(hash));
    }
    if (!stored) return undefined;
    // Content-addressed: what Redis holds must hash to its name, or it is not served.
    if (createHash('sha256').update(stored).digest('hex') !== hash) return undefined;
    const bytes = new Uint8Array(stored);
    artifacts.set(hash, bytes);
    return bytes;
  };
  const httpServer = createServer((req, res) => {
    void serveHttp(req, res).catch((error: Error) => {
      if (!res.headersSent) sendJson(res, 500, { error: error.message });
      else res.destroy();
    });
  });
  const serveHttp = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://edge');
    // What clients probe before they connect (client/socketTransport.ts), as at the coordinator.
    if (url.pathname === '/healthz') return sendJson(res, 200, { ok: true, edge: id });
    if (url.pathname === '/api/edge')
      return sendJson(res, 200, { edge: id, clients: sockets.size, redis: outage.state() });
    if (!url.pathname.startsWith(ARTIFACT_ROUTE)) return sendJson(res, 404, { error: 'not found' });
    if (authority.required) {
      const auth = req.headers.authorization ?? '';
      if (!authority.authenticate(auth.startsWith('Bearer ') ? auth.slice(7) : ''))
        return sendJson(res, 401, {
          error: 'artifact requests need Authorization: Bearer <join token>',
        });
    }
    const hash = url.pathname.slice(ARTIFACT_ROUTE.length);
    sendArtifact(req, res, hash, /^[0-9a-f]{64}$/.test(hash) ? await artifact(hash) : undefined);
  };

  const io = new Server({
    parser: createSocketParser({ maxBytes }),
    maxHttpBufferSize: maxBytes,
    transports: ['websocket'],
  });
  io.use((socket, next) => {
    const auth = handshakeAuthSchema.safeParse(socket.handshake.auth);
    const fail = (code: string, message: string) => {
      const error = new Error(message) as Error & { data?: unknown };
      error.data = { code };
      next(error);
    };
    if (!auth.success)
      return fail('invalid-payload', 'handshake auth must carry { protocolVersion, token? }');
    if (auth.data.protocolVersion !== PROTOCOL_VERSION)
      return fail(
        'protocol-version',
        `protocol version ${auth.data.protocolVersion} is not supported; this edge speaks version ${PROTOCOL_VERSION}`,
      );
    if (!authority.authenticate(auth.data.token))
      return fail('unauthorized', 'join token missing or not accepted');
    next();
  });

  /** Forwards one client event to the master; `onAck` sees the master's answer. */
  const forward = (
    link: string,
    event: ForwardedEvent,
    payload: unknown,
    bytes: number,
    onAck: Ack,
    norm?: number,
  ) => {
    const req = nextReq++;
    let waiting = pending.get(link);
    if (!waiting) pending.set(link, (waiting = new Map()));
    // A buffered round's claim may wait at the master for the next buffer (past a whole
    // aggregation): timing it out here would drop a delta the master then grants and counts, and
    // the client's retry would fill a second slot. It waits for the master's answer, or for its
    // connection or the master to go.
    const untimed = event === 'update' && buffered !== undefined;
    const timer = untimed
      ? undefined
      : setTimeout(() => {
          takePending(
            link,
            req,
          )?.(refusal('internal', `the master did not answer within ${answerTimeoutMs} ms`));
        }, answerTimeoutMs);
    timer?.unref();
    waiting.set(req, { onAck, timer, afterGone: event === 'update' });
    up({ t: 'event', link, event, payload, req, bytes, ...(norm !== undefined ? { norm } : {}) });
  };

  const tally = (code: ErrorCode, bytes: number) => {
    if (buffered) return buffered.tally(code, bytes);
    if (!round) return;
    const entry = (round.refusals[code] ??= { count: 0, bytes: 0 });
    entry.count += 1;
    entry.bytes += bytes;
  };

  /** An update: checked here, its claim checked by the master, folded once granted. */
  const onUpdate = (
    socket: Socket,
    link: string,
    strikes: StrikeCounter,
    raw: unknown,
    bytes: number,
    ack: Ack,
  ) => {
    const refuse = (code: ErrorCode, message: string) => {
      tally(code, bytes);
      if (round) round.bytesIn += bytes;
      ack(refusal(code, message));
      // The master counts the refusals it makes against the connection; these are the edge's.
      if (strikes.strike()) socket.disconnect(true);
    };
    const clientId = socket.data.clientId as string | undefined;
    if (!clientId) return refuse('not-joined', 'send join before update');
    const parsed = updateSchema.safeParse(raw);
    if (!parsed.success) return refuse('invalid-payload', describeIssues(parsed.error));
    const update: UpdateMessage = parsed.data;
    if (buffered) return onBufferedUpdate(link, clientId, update, bytes, ack, refuse);
    const open = round;
    if (!open || open.roundId !== update.roundId)
      return refuse(
        update.roundId <= lastClosed ? 'too-late' : 'wrong-round',
        `round ${update.roundId} is not open (open: ${open?.roundId ?? 'none'})`,
      );
    if (update.masked !== undefined || secure.holds(update.roundId))
      return onMaskedUpdate(link, clientId, update, bytes, open, ack, refuse);
    let verdict: BoundVerdict | undefined;
    let delta: Float32Array;
    try {
      refuseFields(update, ['predictions', 'masked'], 'this round averages weight deltas');
      delta = decodeDelta(update, {
        global: { length: open.numParams },
        // The coordinator's screen (Coordinator.screenDelta), with the master's bound.
        screenDelta: (d) => {
          verdict = judgeDelta(d, open.normBound, open.updateBound);
          if (verdict.action === 'refuse' || !verdict.delta)
            throw new ContributionError(`update bound: ${verdict.reason}`, 'rejected-weights');
          return { delta: verdict.delta, ...(verdict.reason ? { note: verdict.reason } : {}) };
        },
      }).delta;
    } catch (error) {
      const code = error instanceof ContributionError ? error.code : 'rejected-weights';
      return refuse(code, (error as Error).message);
    }
    const { delta: _kept, ...claim } = update;
    // The norm goes with the claim: the master judges it against its bound again (the clip
    // note on its record) and its history of accepted norms is the one that adapts the bound.
    const norm = verdict!.norm;
    forward(
      link,
      'update',
      claim,
      bytes,
      (response) => {
        open.bytesIn += bytes;
        const ok = (response as { ok?: unknown }).ok === true;
        if (ok && round === open) open.partial.add(clientId, delta, update.numSamples);
        else if (ok) log(`round ${open.roundId}: a claim was granted after its close`, 'warn');
        ack(response);
      },
      norm,
    );
  };

  /**
   * A buffered round's update: any model its client was sent may be answered (the master judges
   * staleness from its own record), so only the delta is checked here; it is folded into the
   * buffer the master's grant names, with the grant's weight.
   */
  const onBufferedUpdate = (
    link: string,
    clientId: string,
    update: UpdateMessage,
    bytes: number,
    ack: Ack,
    refuse: (code: ErrorCode, message: string) => void,
  ) => {
    const epochs = buffered!;
    const screen = epochs.screen;
    if (!screen) return refuse('wrong-round', 'no buffer is open');
    let delta: Float32Array;
    let norm: number;
    try {
      refuseFields(update, ['predictions', 'masked'], 'fedbuff buffers weight deltas');
      ({ delta, norm } = screenBufferedDelta(update, screen));
    } catch (error) {
      const code = error instanceof ContributionError ? error.code : 'rejected-weights';
      return refuse(code, (error as Error).message);
    }
    const { delta: _kept, ...claim } = update;
    forward(
      link,
      'update',
      claim,
      bytes,
      (response, grant) => {
        epochs.answered(bytes);
        if ((response as { ok?: unknown }).ok === true) {
          const problem = epochs.fold(grant, delta);
          if (problem) log(`client ${clientId}: a granted claim is not folded: ${problem}`, 'warn');
        }
        ack(response);
      },
      norm,
    );
  };

  /**
   * A masked input of this edge's secure group: checked here, its claim (without the input,
   * with the group's session) checked by the master, added to the group's sum once granted.
   */
  const onMaskedUpdate = (
    link: string,
    clientId: string,
    update: UpdateMessage,
    bytes: number,
    open: EdgeRound,
    ack: Ack,
    refuse: (code: ErrorCode, message: string) => void,
  ) => {
    const problem = secure.checkMasked(clientId, update);
    if (problem) return refuse(problem.code, problem.message);
    secure.claim(clientId);
    const { masked: _kept, ...claim } = update;
    forward(link, 'update', claim, bytes, (response) => {
      open.bytesIn += bytes;
      secure.settleClaim(
        clientId,
        update.roundId,
        (response as { ok?: unknown }).ok === true,
        update,
      );
      ack(response);
    });
  };

  io.on('connection', (socket) => {
    const link = `${incarnation}.l${nextLink++}`;
    sockets.set(link, socket);
    let lastFrameBytes = 0;
    socket.conn.on('data', (data: string | Uint8Array | ArrayBuffer) => {
      lastFrameBytes = typeof data === 'string' ? data.length : data.byteLength;
    });
    up({ t: 'connect', link });
    // An idle socket that never joins holds a slot and a link at the master: close it, as the
    // master's own socket hub does.
    const joinTimer = setTimeout(() => {
      if (socket.data.clientId === undefined && socket.connected) socket.disconnect(true);
    }, options.joinTimeoutMs ?? 15_000);
    joinTimer.unref();
    const strikes = new StrikeCounter(options.maxRefusals ?? 20, options.refusalWindowMs ?? 60_000);
    // A secure group's steps stay at this edge (edgeSecureGroup.ts); its refusals are tallied
    // with the edge's own refusals of updates, in the round's partial.
    socket.on('secagg', (payload: unknown, ack: unknown) => {
      const response = secure.step(socket.data.clientId as string | undefined, payload);
      if (typeof ack === 'function') (ack as Ack)(response);
      if (response.ok) return;
      tally(response.error.code, lastFrameBytes);
      if (strikes.strike()) socket.disconnect(true);
    });
    for (const event of FORWARDED_EVENTS)
      socket.on(event, (payload: unknown, ack: unknown) => {
        const bytes = lastFrameBytes;
        const answer: Ack = (response) => {
          if (typeof ack === 'function') (ack as Ack)(response);
        };
        if (event === 'update') return onUpdate(socket, link, strikes, payload, bytes, answer);
        // Checked here as the master would, so a malformed payload costs no trip through Redis.
        const parsed = (event === 'join' ? joinRequestSchema : abstainSchema).safeParse(payload);
        if (!parsed.success) {
          answer(refusal('invalid-payload', describeIssues(parsed.error)));
          if (strikes.strike()) socket.disconnect(true);
          return;
        }
        forward(link, event, payload, bytes, (response) => {
          const joined = response as { ok?: unknown; clientId?: unknown; round?: RoundStart };
          if (event === 'join' && joined.ok === true && typeof joined.clientId === 'string') {
            const clientId = joined.clientId;
            socket.data.clientId = clientId;
            byClient.set(clientId, socket);
            // Rejoined mid-round into this edge's secure group: its round:start in the join's
            // answer gains the group's fields, and the last step it was sent comes again after.
            const own = joined.round && secure.startFor(joined.round.roundId, clientId);
            if (own) {
              answer({ ...joined, round: { ...joined.round, secureAggregation: own } });
              setImmediate(() => secure.resend(clientId));
              return;
            }
          }
          answer(response);
        });
      });
    socket.on('disconnect', () => {
      clearTimeout(joinTimer);
      sockets.delete(link);
      const clientId = socket.data.clientId as string | undefined;
      if (clientId !== undefined && byClient.get(clientId) === socket) byClient.delete(clientId);
      const waiting = pending.get(link);
      for (const [req, { timer, afterGone }] of waiting ?? [])
        if (!afterGone) {
          clearTimeout(timer);
          waiting!.delete(req);
        }
      if (waiting?.size === 0) pending.delete(link);
      up({ t: 'gone', link });
    });
  });

  const closeRound = (roundId: number) => {
    const open = round;
    if (!open || open.roundId !== roundId) return;
    round = undefined;
    lastClosed = roundId;
    if (secure.holds(roundId)) {
      // The group's sum is unmasked first (its survivors' reveals, up to phaseTimeoutMs).
      void secure
        .close(roundId)
        .then((group) => {
          up({
            t: 'partial',
            roundId,
            ...(group?.sum ? { sum: group.sum } : {}),
            weight: group?.weight ?? 0,
            clients: group?.clients ?? [],
            refusals: open.refusals,
            bytesIn: open.bytesIn,
            ...(group?.note !== undefined ? { note: group.note } : {}),
          });
          log(`round ${roundId}: secure partial of ${group?.clients.length ?? 0} client(s) sent`);
        })
        .catch((error: Error) =>
          log(`round ${roundId}: the secure partial could not be sent: ${error.message}`, 'warn'),
        );
      return;
    }
    const { partial } = open;
    up({
      t: 'partial',
      roundId,
      ...(partial.clients.length > 0 ? { sum: partial.sum } : {}),
      weight: partial.weight,
      clients: partial.clients,
      refusals: open.refusals,
      bytesIn: open.bytesIn,
    });
    log(`round ${roundId}: partial of ${partial.clients.length} client(s) sent`);
  };
  const closeBuffer = (epoch: number) => {
    const { partial, dropped } = buffered!.close(epoch);
    if (dropped.length > 0)
      log(`buffers ${dropped.join(', ')} were never closed by the master: dropped`, 'warn');
    up(partial);
    log(`buffer ${epoch}: partial of ${partial.clients.length} update(s) sent`);
  };
  const openRound = (message: RoundOpen) => {
    // The master sends a round's opening again to an edge it takes for new (it dropped this one
    // for silence): the round this edge holds keeps its partial sum, and no closed round reopens.
    if (round?.roundId === message.roundId || message.roundId <= lastClosed) return;
    round = {
      roundId: message.roundId,
      numParams: message.numParams,
      updateBound: message.updateBound,
      normBound: message.normBound,
      partial: new PartialSum(message.numParams),
      refusals: {},
      bytesIn: 0,
    };
  };
  /**
   * The master restarted (`--resume`): it holds none of this edge's connections and none of the
   * rounds this edge opened. Each socket's transport is closed (not a socket.io disconnect,
   * after which a client would not reconnect), so every client reconnects and joins the new
   * master, as it would a restarted coordinator; answers owed by the old master never come.
   */
  const onMasterRestarted = (previous: string, next: string) => {
    log(
      `the master restarted (incarnation ${previous} → ${next}): closing ${sockets.size} connection(s) so their clients join it again`,
      'warn',
    );
    round = undefined;
    lastClosed = 0;
    // The old master's buffers and secure group die with it: the new one opens its own.
    buffered = undefined;
    secure.abort();
    shared.clear();
    for (const waiting of pending.values())
      for (const { timer } of waiting.values()) clearTimeout(timer);
    pending.clear();
    for (const socket of sockets.values()) socket.conn.close();
  };
  const onDown = (entry: ReadEntry) => {
    if (entry.refused !== undefined || entry.edge !== id) {
      log(`refused a control message: ${entry.refused ?? `addressed to ${entry.edge}`}`, 'warn');
      return;
    }
    if (masterIncarnation !== undefined && entry.incarnation !== masterIncarnation)
      onMasterRestarted(masterIncarnation, entry.incarnation);
    masterIncarnation = entry.incarnation;
    const message = entry.message as DownMessage;
    switch (message.t) {
      case 'ack': {
        takePending(message.link, message.req)?.(message.response, message.grant);
        break;
      }
      case 'emit':
        sockets.get(message.link)?.emit(message.event, ...(message.payload as unknown[]));
        break;
      case 'share':
        // Kept until the next one: a round's start is shared by every client of the round.
        shared.clear();
        shared.set(message.id, message.payload);
        break;
      case 'emit-shared': {
        const payload = shared.get(message.id);
        const socket = sockets.get(message.link);
        if (payload === undefined)
          log(`no shared message ${message.id} for ${message.event}`, 'warn');
        else if (socket) {
          // A member of this edge's secure group: its own id and weight in the group.
          const start = payload as RoundStart;
          const own =
            message.event === 'round:start'
              ? secure.startFor(start.roundId, socket.data.clientId as string | undefined)
              : undefined;
          socket.emit(message.event, own ? { ...start, secureAggregation: own } : payload);
        }
        break;
      }
      case 'broadcast':
        io.emit(message.event, ...(message.payload as unknown[]));
        break;
      case 'cut': {
        const socket = sockets.get(message.link);
        if (message.rejoin) socket?.conn.close();
        else socket?.disconnect(true);
        break;
      }
      case 'round:open':
        if (message.buffered) (buffered ??= new EdgeEpochs()).begin(message);
        else openRound(message);
        break;
      case 'secure:group':
        secure.open(message);
        break;
      case 'round:close':
        if (buffered) closeBuffer(message.roundId);
        else closeRound(message.roundId);
        break;
      case 'welcome':
        // Its incarnation was all it carried (checked above).
        break;
    }
  };
  const reader = new SignedReader(
    readerConnection,
    keys.down(id),
    secret,
    'down',
    onDown,
    onRedisError,
  );

  io.attach(httpServer);
  try {
    // The master's answers to this edge's first messages must not come before its reading starts.
    await reader.ready;
    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
  } catch (error) {
    outage.close();
    closing = true;
    await reader.stop();
    redis.disconnect();
    throw error;
  }
  const port = (httpServer.address() as AddressInfo).port;
  const host = options.host ?? '127.0.0.1';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  up({ t: 'hello' });
  const heartbeat = setInterval(() => up({ t: 'hello' }), options.heartbeatMs ?? 1000);
  log(`edge ${id} listening on ${url}, cluster ${options.cluster ?? 'default'}`);
  return {
    id,
    url,
    port,
    failed,
    async close() {
      clearInterval(heartbeat);
      secure.abort();
      outage.close();
      for (const waiting of pending.values())
        for (const { timer } of waiting.values()) clearTimeout(timer);
      pending.clear();
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
      await reader.stop();
      closing = true;
      // With Redis away a QUIT would wait in the queue for it: drop the connection instead.
      if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
      else redis.disconnect();
    },
  };
}
