/**
 * The master's end of the edges: reads the Redis up-stream (every entry's seal
 * checked), keeps which edges are alive (heartbeats), hands their connections'
 * messages to the EdgeHub, publishes the run's artifacts for edges to serve,
 * and collects each round's partial sums for the EdgeAggregatedStrategy. A
 * forged or garbled message is never acted on: it is recorded as a refusal of
 * `edge:<id>` in the run's SQLite store.
 */
import type { Redis } from 'ioredis';
import type { ArtifactRef } from '../../shared/protocol/index.js';
import type { ArtifactStore } from '../artifacts.js';
import type { RunStore } from '../store.js';
import { UnjoinedRefusals } from '../refusalTally.js';
import type { UpdateBoundConfig } from '../robustness/index.js';
import type { SecureAggregationConfig } from '../config.js';
import type { SecureAggregationHooks, Strategy } from '../strategies/index.js';
import { EdgeHub } from './edgeHub.js';
import type { EdgeRoundPort, ReceivedPartial } from './edgeAggregation.js';
import { EdgeAggregatedStrategy } from './edgeAggregation.js';
import { EdgeBufferedStrategy } from './edgeBuffering.js';
import type { DownMessage, PartialMessage, RoundOpen, SecureGroupOpen } from './messages.js';
import { upMessageSchema } from './messages.js';
import type { ReadEntry } from './redisControlPlane.js';
import { SignedReader, SignedWriter, edgeKeys, openRedis } from './redisControlPlane.js';
import { checkEdgeSecret } from './envelope.js';
import type { SecureGroupPort } from './secureGroups.js';
import { SecureEdgeGroupsStrategy } from './secureGroups.js';
import type { OutageState } from './redisOutage.js';
import { RedisOutage } from './redisOutage.js';

/** How finely the wait for partials is counted (it pauses while Redis is away). */
const PARTIAL_TICK_MS = 100;

/** Refused edge messages recorded one row each; the rest are counted (refusalTally.ts). */
const MAX_REFUSAL_ROWS = 1000;

export interface MasterEdgeOptions {
  /** redis:// URL of the control plane. */
  redis: string;
  /** Shared by the master and its edges; at least 16 characters. */
  secret: string;
  /** Names the streams, so several runs may share a Redis server. Defaults to `default`. */
  cluster?: string;
  /** How long after a round closes to wait for the partials of edges that hold its clients. Defaults to 15000. */
  partialTimeoutMs?: number;
  /** An edge silent this long is gone, with every connection it held. Defaults to 6000. */
  heartbeatTimeoutMs?: number;
  /** Redis away this long mid-run stops the run (it stays resumable). Defaults to 120,000. */
  outageLimitMs?: number;
}

export interface MasterEdgeParts {
  runId: string;
  store: RunStore;
  log: (message: string, level?: 'warn') => void;
}

/** What one round's partials cost the master. */
export interface EdgeRoundTraffic {
  roundId: number;
  partials: number;
  /** Bytes of the partials' stream entries. */
  partialBytes: number;
  /** Bytes of every other entry read from the up-stream while the round was open (claims, joins, heartbeats). */
  controlBytes: number;
  /** Bytes the master wrote to the edges' down-streams while the round was open (round starts, acks). */
  downBytes: number;
}

/** The edges' side of the master's status (`GET /api/status`, `edges`). */
export interface MasterEdgesStatus extends OutageState {
  liveEdges: string[];
  /** Times Redis came back without what the master had put there, and it was put back. */
  republished: number;
}

interface Collecting {
  roundId: number;
  waitFor: Set<string>;
  got: Map<string, ReceivedPartial>;
  resolve: () => void;
}

export class MasterEdges implements EdgeRoundPort, SecureGroupPort {
  readonly hub: EdgeHub;
  private readonly keys;
  private readonly writer: SignedWriter;
  private readonly reader: SignedReader;
  private readonly lastSeen = new Map<string, number>();
  /** Each edge's incarnation last heard: a new one is the edge restarted under its name. */
  private readonly incarnations = new Map<string, string>();
  private readonly sweep: NodeJS.Timeout;
  private openMessage: RoundOpen | undefined;
  private collecting: Collecting | undefined;
  private controlBytes = 0;
  private downBytes = 0;
  private readonly traffic: EdgeRoundTraffic[] = [];
  private refusals = 0;
  private readonly floodTally: UnjoinedRefusals;
  private readonly outage: RedisOutage;
  /** What publishArtifacts put in Redis, to put back after Redis lost it. */
  private published: { refs: readonly ArtifactRef[]; artifacts: ArtifactStore } | undefined;
  private republished = 0;
  private recovering: Promise<void> = Promise.resolve();
  /** Set by greetEdges(): from then on every edge heard anew is greeted. */
  private greeting = false;
  private closed = false;
  private giveUp: (reason: string) => void = () => undefined;

  static async start(options: MasterEdgeOptions, parts: MasterEdgeParts): Promise<MasterEdges> {
    const secret = checkEdgeSecret(options.secret);
    // While an outage lasts its one line says so, not a line per reconnection attempt.
    let quiet = () => false;
    const onError = (error: Error) => {
      if (!quiet()) parts.log(`edges: Redis: ${error.message}`, 'warn');
    };
    const writer = await openRedis(options.redis, onError);
    const reader = writer.duplicate();
    reader.on('error', onError);
    const edges = new MasterEdges(options, parts, secret, writer, reader);
    quiet = () => edges.outage.down || edges.closed;
    await edges.reader.ready;
    await edges.markRedis();
    return edges;
  }

  private constructor(
    private readonly options: MasterEdgeOptions,
    private readonly parts: MasterEdgeParts,
    secret: string,
    private readonly writerConnection: Redis,
    readerConnection: Redis,
  ) {
    this.keys = edgeKeys(options.cluster ?? 'default');
    this.floodTally = new UnjoinedRefusals(parts.store, parts.runId);
    this.writer = new SignedWriter(writerConnection, secret, 'down');
    this.hub = new EdgeHub(
      (edge, message) => this.send(edge, message),
      () => this.lastSeen.keys(),
    );
    this.reader = new SignedReader(
      readerConnection,
      this.keys.up,
      secret,
      'up',
      (entry) => this.onEntry(entry),
      (error) => parts.log(`edges: reading ${this.keys.up}: ${error.message}`, 'warn'),
    );
    const timeout = options.heartbeatTimeoutMs ?? 6000;
    // While the master's own Redis connection is down it hears no edge: that is no edge's
    // silence. Silence counts again from the moment the connection is back.
    let readySince = Date.now();
    readerConnection.on('ready', () => (readySince = Date.now()));
    this.sweep = setInterval(() => {
      if (readerConnection.status !== 'ready') return;
      const now = Date.now();
      for (const [edge, seen] of this.lastSeen)
        if (now - Math.max(seen, readySince) > timeout) {
          parts.log(
            `edges: edge ${edge} silent for ${timeout} ms: its connections are gone`,
            'warn',
          );
          this.dropEdge(edge);
        }
    }, 1000);
    this.sweep.unref();
    this.outage = new RedisOutage(
      options.redis,
      [writerConnection, readerConnection],
      "the edges' joins, claims, partial sums and the rounds' weights (queued)",
      {
        lost: (message) => parts.log(`edges: ${message}`, 'warn'),
        back: (awayMs) => {
          parts.log(`edges: Redis is back after ${(awayMs / 1000).toFixed(1)} s`);
          this.recovering = this.recovering.then(() =>
            this.recover().catch((error: Error) =>
              parts.log(`edges: Redis is back but recovering failed: ${error.message}`, 'warn'),
            ),
          );
        },
        gaveUp: (message) => {
          parts.log(`edges: ${message}: the run stops (resume it with --resume)`, 'warn');
          this.collecting?.resolve();
          this.giveUp(message);
        },
      },
      options.outageLimitMs,
    );
  }

  /** What to do when Redis has been away past the limit (the coordinator's stop). */
  onGiveUp(handler: (reason: string) => void): void {
    this.giveUp = handler;
  }

  /** Redis's state and the edges heard from, for the status API. */
  status(): MasterEdgesStatus {
    return { ...this.outage.state(), liveEdges: this.liveEdges, republished: this.republished };
  }

  /**
   * From now on (the coordinator takes connections), every edge heard is greeted, the ones heard
   * already at once: the greeting carries this master's incarnation, by which an edge whose
   * clients joined an earlier master (this one restarted, `--resume`) knows to have them join
   * again.
   */
  greetEdges(): void {
    this.greeting = true;
    for (const edge of this.lastSeen.keys()) this.send(edge, { t: 'welcome' });
  }

  /** The marker whose absence later says Redis lost what the master put there. */
  private async markRedis(): Promise<void> {
    await this.writerConnection.set(this.keys.marker, this.writer.incarnation);
  }

  /**
   * Redis is back. If it lost its data (restarted without persistence: the marker is gone), the
   * artifacts' bytes go back. Either way every edge is sent the open round again (an edge
   * ignores one it holds) and the next round start carries the shared weights again, in case
   * entries written just before the outage were lost unread.
   */
  private async recover(): Promise<void> {
    const lost = (await this.writerConnection.exists(this.keys.marker)) === 0;
    if (lost && this.published) {
      await this.putArtifacts(this.published.refs, this.published.artifacts);
      this.republished += 1;
    }
    if (lost) await this.markRedis();
    for (const edge of this.lastSeen.keys()) {
      this.hub.forgetShared(edge);
      if (this.openMessage) this.send(edge, this.openMessage);
    }
    this.parts.log(
      `edges: Redis ${lost ? `had lost its data: ${this.published?.refs.length ?? 0} artifact(s) published again` : 'kept its data'}; ${this.openMessage ? `round ${this.openMessage.roundId} sent again to ${this.lastSeen.size} edge(s)` : 'no round open'}`,
    );
  }

  /**
   * The run's strategy, aggregated over edges: securely per edge group when `secure` is set,
   * buffered for an asynchronous one (fedbuff).
   */
  wrap(
    strategy: Strategy,
    updateBound: UpdateBoundConfig,
    secure?: { config: SecureAggregationConfig; hooks: SecureAggregationHooks },
  ): Strategy {
    if (secure)
      return new SecureEdgeGroupsStrategy(strategy, this, secure.config, secure.hooks, updateBound);
    if (!strategy.capabilities.asynchronous)
      return new EdgeAggregatedStrategy(strategy, this, updateBound);
    const buffered = new EdgeBufferedStrategy(strategy, this, updateBound);
    this.hub.takeGrant = (clientId) => buffered.takeGrant(clientId);
    return buffered;
  }

  /** Puts the run's artifacts in Redis, where edges fetch them to serve their clients. */
  async publishArtifacts(refs: readonly ArtifactRef[], artifacts: ArtifactStore): Promise<void> {
    this.published = { refs, artifacts };
    await this.putArtifacts(refs, artifacts);
  }

  private async putArtifacts(
    refs: readonly ArtifactRef[],
    artifacts: ArtifactStore,
  ): Promise<void> {
    for (const ref of refs) {
      const bytes = artifacts.get(ref.hash);
      if (!bytes) throw new Error(`artifact ${ref.hash} is not in the artifact store`);
      await this.writerConnection.set(
        this.keys.artifact(ref.hash),
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      );
    }
  }

  /** Edges heard from recently. */
  get liveEdges(): string[] {
    return [...this.lastSeen.keys()];
  }

  /** What each aggregated round's partials cost, in order. */
  roundTraffic(): EdgeRoundTraffic[] {
    return [...this.traffic];
  }

  private send(edge: string, message: DownMessage): void {
    const { bytes, written } = this.writer.send(this.keys.down(edge), edge, message);
    this.downBytes += bytes;
    written.catch((error: Error) => this.parts.log(`edges: to ${edge}: ${error.message}`, 'warn'));
  }

  private onEntry(entry: ReadEntry): void {
    if (entry.refused !== undefined) return this.refuse(entry.edge, 0, entry.refused, entry.bytes);
    const parsed = upMessageSchema.safeParse(entry.message);
    if (!parsed.success)
      return this.refuse(
        entry.edge,
        0,
        `not an edge message: ${parsed.error.message}`,
        entry.bytes,
      );
    const { edge, incarnation } = entry;
    const message = parsed.data;
    const previous = this.incarnations.get(edge);
    if (previous !== undefined && previous !== incarnation && this.lastSeen.has(edge)) {
      // The edge restarted under its name: the old process's connections are gone, and the new
      // one has none of what was sent to the old (the round's opening, the shared weights).
      this.parts.log(`edges: edge ${edge} restarted: its earlier connections are gone`, 'warn');
      this.dropEdge(edge);
    }
    this.incarnations.set(edge, incarnation);
    const known = this.lastSeen.has(edge);
    this.lastSeen.set(edge, Date.now());
    if (!known && this.greeting) this.send(edge, { t: 'welcome' });
    // An edge that appears while a round is open learns of it, so it can fold that round's updates.
    if (!known && this.openMessage) this.send(edge, this.openMessage);
    if (message.t === 'partial') return this.onPartial(edge, message, entry.bytes);
    this.controlBytes += entry.bytes;
    if (message.t !== 'hello') this.hub.receive(edge, message);
  }

  private onPartial(edge: string, partial: PartialMessage, bytes: number): void {
    const collecting = this.collecting;
    if (!collecting || collecting.roundId !== partial.roundId) {
      if (partial.clients.length > 0)
        this.refuse(
          edge,
          partial.roundId,
          `partial for round ${partial.roundId}, which is not closing`,
          bytes,
        );
      return;
    }
    if (collecting.got.has(edge))
      return this.refuse(edge, partial.roundId, 'a second partial for this round', bytes);
    // Counted only for the round being collected, once per edge: a stale or repeated partial
    // (or a replay of one) must not add its tallies again.
    const counts = Object.entries(partial.refusals).map(([code, tally]) => ({
      code: `edge:${code}`,
      ...tally,
    }));
    if (counts.length > 0)
      this.parts.store.addUnjoinedRefusals(this.parts.runId, counts, Date.now());
    collecting.got.set(edge, { partial, bytes });
    this.noLongerAwaited(edge);
  }

  private dropEdge(edge: string): void {
    this.lastSeen.delete(edge);
    this.hub.dropEdge(edge);
    this.noLongerAwaited(edge);
  }

  private noLongerAwaited(edge: string): void {
    const collecting = this.collecting;
    if (!collecting) return;
    collecting.waitFor.delete(edge);
    if (collecting.waitFor.size === 0) collecting.resolve();
  }

  refusePartial(edge: string, roundId: number, reason: string, bytes: number): void {
    this.refuse(edge, roundId, reason, bytes);
  }

  private refuse(edge: string, roundId: number, reason: string, bytes: number): void {
    const name = edge.length > 0 ? edge.slice(0, 100) : 'unnamed';
    // Whoever can write to Redis can write garbage: past the first rows, a flood is only counted
    // (one aggregate row per flush, as for unjoined peers), never a row per entry.
    if (++this.refusals > MAX_REFUSAL_ROWS) {
      this.floodTally.count('edge-refused', bytes);
      return;
    }
    this.parts.log(`edges: refused a message from edge ${name}: ${reason}`, 'warn');
    this.parts.store.recordUpdate({
      runId: this.parts.runId,
      round: roundId,
      clientId: `edge:${name}`,
      status: 'rejected',
      reason: `edge-partial: ${reason}`.slice(0, 1000),
      numSamples: null,
      bytes,
      receivedAt: Date.now(),
    });
  }

  edgeOf(clientId: string): string | undefined {
    return this.hub.edgeOf(clientId);
  }

  claimNorm(clientId: string): number | undefined {
    return this.hub.claimNormOf(clientId);
  }

  openRound(message: RoundOpen): void {
    this.openMessage = message;
    this.controlBytes = 0;
    this.downBytes = 0;
    for (const edge of this.lastSeen.keys()) this.send(edge, message);
  }

  openSecureGroup(edge: string, message: SecureGroupOpen): void {
    this.send(edge, message);
  }

  recordSittingOut(roundId: number, clientIds: readonly string[], reason: string): void {
    this.parts.log(`edges: round ${roundId}: ${reason}: it sits the round out`, 'warn');
    for (const clientId of clientIds)
      this.parts.store.recordUpdate({
        runId: this.parts.runId,
        round: roundId,
        clientId,
        status: 'rejected',
        reason: `sat-out: ${reason}`.slice(0, 1000),
        numSamples: null,
        bytes: 0,
        receivedAt: Date.now(),
      });
  }

  async collect(
    roundId: number,
    waitFor: readonly string[],
    extraMs = 0,
  ): Promise<Map<string, ReceivedPartial>> {
    const timeoutMs = (this.options.partialTimeoutMs ?? 15000) + extraMs;
    this.openMessage = undefined;
    const got = new Map<string, ReceivedPartial>();
    const pending = new Set(waitFor.filter((edge) => this.lastSeen.has(edge)));
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.collecting = { roundId, waitFor: pending, got, resolve };
      for (const edge of this.lastSeen.keys()) this.send(edge, { t: 'round:close', roundId });
      if (pending.size === 0) resolve();
      // The wait counts only while Redis is up: with Redis away, the close and the partials
      // wait in the senders' queues (an outage past its limit ends the wait, see gaveUp).
      let waited = 0;
      timer = setInterval(() => {
        if (this.outage.down) return;
        waited += PARTIAL_TICK_MS;
        if (waited < timeoutMs) return;
        if (pending.size > 0)
          this.parts.log(
            `edges: round ${roundId}: no partial from ${[...pending].join(', ')} within ${timeoutMs} ms; their clients are not counted`,
            'warn',
          );
        resolve();
      }, PARTIAL_TICK_MS);
      // Nothing else to do must not keep the process alive; close() ends the wait itself.
      timer.unref();
    });
    clearInterval(timer);
    this.collecting = undefined;
    return got;
  }

  reportRound(roundId: number, partials: number, partialBytes: number): void {
    const traffic = {
      roundId,
      partials,
      partialBytes,
      controlBytes: this.controlBytes,
      downBytes: this.downBytes,
    };
    this.traffic.push(traffic);
    this.parts.log(
      `edges: round ${roundId}: ${partials} partial(s), ${partialBytes} bytes; ${traffic.controlBytes} bytes of control messages in, ${traffic.downBytes} bytes out`,
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweep);
    this.outage.close();
    // A round collecting partials gets what came: no partial arrives once the reading stops.
    this.collecting?.resolve();
    this.floodTally.flush();
    await this.reader.stop();
    // With Redis away a QUIT would wait in the queue for it: drop the connection instead.
    if (this.writerConnection.status === 'ready')
      await this.writerConnection.quit().catch(() => this.writerConnection.disconnect());
    else this.writerConnection.disconnect();
  }
}
