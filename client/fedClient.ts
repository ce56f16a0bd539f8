/**
 * An edge client: joins a coordinator, fetches the proxy set and the teacher's
 * soft labels once, then for every round it is sampled in trains the student
 * on its private data (hard labels) plus the proxy set (soft labels) with the
 * shared distillation loss and sends back its weight delta.
 *
 * Isomorphic: the transport and the data are injected; private data never
 * leaves this object except as the trained delta.
 */
import type * as tf from '@tensorflow/tfjs';
import type { LabeledData, ProxyData } from '../shared/data/types.js';
import type { ModelSpec } from '../shared/models/index.js';
import { buildModel } from '../shared/models/index.js';
import { consensusProxy } from '../shared/training/index.js';
import { createCodec } from '../shared/codec/index.js';
import { decodeSoftLabels } from '../shared/softLabels/index.js';
import { decodeProxyInputs } from '../shared/artifacts/index.js';
import type {
  ArtifactRef,
  JoinAccepted,
  RoundStart,
  SecAggDown,
} from '../shared/protocol/index.js';
import {
  joinResponseSchema,
  roundStartSchema,
  secAggDownSchema,
} from '../shared/protocol/index.js';
import type { FedClientEvent } from './events.js';
import type { FedTransport } from './transport.js';
import type { RoundStep } from './round/roundWork.js';
import { runRound } from './round/roundWork.js';
import { loadGlobalWeights, trainStudent } from './round/trainStep.js';
import { privatiseDelta } from './round/privatiseStep.js';
import { maskDelta } from './round/maskStep.js';
import { composeUpdate } from './round/updateStep.js';
import { deliverUpdate } from './round/deliverStep.js';
import { RefusedError } from './transport.js';
import { SecureSession } from './secureSession.js';

export type { FedClientEvent } from './events.js';

/** Keeps downloaded artifacts between runs (a folder in Node, IndexedDB in a browser). */
export interface ArtifactCache {
  get(hash: string): Promise<Uint8Array | undefined>;
  set(hash: string, bytes: Uint8Array): Promise<void>;
}

export interface FedClientOptions {
  transport: FedTransport;
  /** Private labelled data; never sent anywhere. */
  data: LabeledData;
  /** Private held-out data: the client reports its model's accuracy on it each round. */
  validation?: LabeledData;
  /**
   * This client's own student architecture, for strategies where no weights travel (fedmd,
   * dsfl, local). Defaults to the coordinator's spec.
   */
  studentSpec?: ModelSpec;
  /**
   * This client's seed: of its initial weights (which matter when no weights travel: fedmd,
   * dsfl, local) and, mixed with the round id, of its batch order and dropout. Defaults to
   * unseeded initial weights and a batch order seeded by the round id alone.
   */
  seed?: number;
  platform: 'node' | 'browser' | 'sim';
  backend: string;
  name?: string;
  /** An id from an earlier JoinAccepted, to rejoin as the same client (a reloaded page). */
  clientId?: string;
  /** The `rejoinSecret` that came with `clientId`: the coordinator refuses a rejoin without it. */
  rejoinSecret?: string;
  cache?: ArtifactCache;
  onEvent?: (event: FedClientEvent) => void;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

export class FedClient {
  private clientId: string | undefined;
  private secret: string | undefined;
  private joined: JoinAccepted | undefined;
  private model: tf.LayersModel | undefined;
  private spec: ModelSpec | undefined;
  private joinedSpecKey: string | undefined;
  private proxy: ProxyData | undefined;
  private readonly artifactsByHash = new Map<string, Uint8Array>();
  /** The round being trained, to abort when a restarted coordinator supersedes it. */
  private busy: { key: string; abort: AbortController; done: Promise<void> } | undefined;
  /** A round:start that arrived before the join's ack was handled or the artifacts loaded. */
  private pendingRound: RoundStart | undefined;
  private readonly finishedRounds = new Set<string>();
  /** The secure round this client takes part in, and step messages that came before it. */
  private secure: SecureSession | undefined;
  private earlySecAgg: SecAggDown[] = [];
  private resolveDone: (reason: string) => void = () => undefined;
  private readonly codec = createCodec();
  /** Resolves with the reason when the run ends or the client is stopped. */
  readonly done = new Promise<string>((resolve) => (this.resolveDone = resolve));
  private bytesDown = 0;
  private stopped = false;
  private bytesUp = 0;

  constructor(private readonly options: FedClientOptions) {
    this.clientId = options.clientId;
    this.secret = options.rejoinSecret;
  }

  get id(): string | undefined {
    return this.clientId;
  }

  /** What proves a later rejoin as `id` is this client: keep it beside the id, and secret. */
  get rejoinSecret(): string | undefined {
    return this.secret;
  }

  get traffic(): { bytesDown: number; bytesUp: number } {
    return { bytesDown: this.bytesDown, bytesUp: this.bytesUp };
  }

  private emit(event: FedClientEvent): void {
    this.options.onEvent?.(event);
  }

  /** Connects and joins; resolves once joined and the artifacts are loaded. */
  async start(): Promise<void> {
    await this.options.transport.connect({
      roundStart: (round) => void this.onRoundStart(round),
      roundEnd: (summary) =>
        this.emit({
          type: 'round:end',
          roundId: summary.roundId,
          ...(summary.studentAccuracy !== undefined
            ? { studentAccuracy: summary.studentAccuracy }
            : {}),
        }),
      secAgg: (message) => this.onSecAgg(message),
      runEnd: (summary) => {
        this.emit({ type: 'run:end', reason: summary.reason });
        this.resolveDone(summary.reason);
      },
      reconnected: () =>
        void this.join().catch((error: Error) =>
          this.emit({ type: 'error', message: `rejoin failed: ${error.message}` }),
        ),
      disconnected: (reason) => this.emit({ type: 'disconnected', reason }),
    });
    await this.join();
  }

  private async join(): Promise<void> {
    const response = joinResponseSchema.parse(
      await this.options.transport.join({
        ...(this.clientId !== undefined ? { clientId: this.clientId } : {}),
        ...(this.clientId !== undefined && this.secret !== undefined
          ? { rejoinSecret: this.secret }
          : {}),
        platform: this.options.platform,
        backend: this.options.backend,
        numSamples: this.options.data.count,
        ...(this.options.name !== undefined ? { name: this.options.name } : {}),
      }),
    );
    if (!response.ok) throw new RefusedError(response.error.message, response.error.code);
    const rejoin = this.clientId !== undefined;
    this.clientId = response.clientId;
    this.secret = response.rejoinSecret;
    this.joined = response;
    this.emit({ type: 'joined', clientId: response.clientId, runId: response.runId, rejoin });
    await this.loadArtifacts(response);
    const round = response.round ?? this.pendingRound;
    this.pendingRound = undefined;
    if (round) void this.onRoundStart(round);
  }

  private async artifact(ref: ArtifactRef): Promise<{ bytes: Uint8Array; fromCache: boolean }> {
    const held = this.artifactsByHash.get(ref.hash) ?? (await this.options.cache?.get(ref.hash));
    if (held && (await sha256Hex(held)) === ref.hash) {
      this.artifactsByHash.set(ref.hash, held);
      return { bytes: held, fromCache: true };
    }
    const bytes = await this.options.transport.fetchArtifact(ref);
    const hash = await sha256Hex(bytes);
    if (hash !== ref.hash)
      throw new Error(`artifact ${ref.url} hashes to ${hash}, expected ${ref.hash}`);
    this.bytesDown += bytes.byteLength;
    this.artifactsByHash.set(ref.hash, bytes);
    await this.options.cache?.set(ref.hash, bytes);
    return { bytes, fromCache: false };
  }

  private async loadArtifacts(joined: JoinAccepted): Promise<void> {
    // A rejoin with the same spec keeps the model (and, without weights travelling, its training).
    const specKey = JSON.stringify(joined.model.spec);
    if (specKey !== this.joinedSpecKey) {
      this.joinedSpecKey = specKey;
      this.model?.dispose();
      this.spec = this.options.studentSpec ?? joined.model.spec;
      this.model = buildModel(this.spec, this.options.seed);
    }
    if (
      this.proxy &&
      this.artifactsByHash.has(joined.proxyInputs.hash) &&
      this.artifactsByHash.has(joined.softLabels.hash)
    ) {
      return;
    }
    const inputs = await this.artifact(joined.proxyInputs);
    const labels = await this.artifact(joined.softLabels);
    const proxy = decodeProxyInputs(this.codec.decode(inputs.bytes));
    const softLabels = decodeSoftLabels(
      this.codec.decode(labels.bytes) as Parameters<typeof decodeSoftLabels>[0],
    );
    if (softLabels.length !== proxy.count * joined.model.spec.numClasses) {
      throw new Error(
        `soft labels hold ${softLabels.length} values, expected ${proxy.count} proxy samples × ${joined.model.spec.numClasses} classes`,
      );
    }
    this.proxy = { x: proxy.x, softLabels, count: proxy.count };
    this.emit({
      type: 'artifacts',
      proxyCount: proxy.count,
      bytes: inputs.bytes.byteLength + labels.bytes.byteLength,
      fromCache: inputs.fromCache && labels.fromCache,
    });
  }

  private onSecAgg(raw: SecAggDown): void {
    const parsed = secAggDownSchema.safeParse(raw);
    if (!parsed.success) {
      this.emit({ type: 'error', message: `ignored malformed secagg: ${parsed.error.message}` });
      return;
    }
    const message = parsed.data;
    if (this.secure?.roundId === message.roundId) this.secure.handle(message);
    // On a rejoin the step message can overtake the round:start it belongs to.
    else this.earlySecAgg = [...this.earlySecAgg.slice(-3), message];
  }

  private async onRoundStart(raw: RoundStart): Promise<void> {
    const parsed = roundStartSchema.safeParse(raw);
    if (!parsed.success) {
      this.emit({
        type: 'error',
        message: `ignored malformed round:start: ${parsed.error.message}`,
      });
      return;
    }
    const round = parsed.data;
    // A coordinator restarted from its data directory re-runs an interrupted round under the
    // same id with a new deadline: that is a new round:start, a repeated message is not.
    const roundKey = `${round.roundId}@${round.deadline}`;
    if (this.busy?.key === roundKey || this.finishedRounds.has(roundKey)) return;
    const model = this.model;
    const spec = this.spec;
    if (!model || !spec || !this.joined || !this.proxy) {
      // Node's ws can deliver the join ack and round:start in one tick, before join() resumes:
      // keep the round and start it once joined with the artifacts loaded.
      this.pendingRound = round;
      return;
    }
    if (this.busy) {
      // Only one training at a time on the model: a newer round replaces an unfinished one.
      this.busy.abort.abort(new Error(`superseded by round ${round.roundId}`));
      await this.busy.done;
    }
    const abort = new AbortController();
    let finished: () => void = () => undefined;
    this.busy = {
      key: roundKey,
      abort,
      done: new Promise<void>((resolve) => (finished = resolve)),
    };
    this.emit({ type: 'round:start', roundId: round.roundId, deadline: round.deadline });
    try {
      const secureSettings = round.secureAggregation;
      const secure = secureSettings
        ? new SecureSession({
            round: { ...round, secureAggregation: secureSettings },
            length: this.joined.model.numParams,
            send: (message) => this.options.transport.sendSecAgg(message),
            signal: abort.signal,
            onError: (message) => {
              this.emit({ type: 'error', message });
              // Out of the secure round: stop training for it.
              abort.abort(new Error(message));
            },
          })
        : undefined;
      this.secure = secure;
      if (secure) {
        // Keys and shares go out while the student trains.
        secure.start();
        for (const early of this.earlySecAgg)
          if (early.roundId === round.roundId) secure.handle(early);
        this.earlySecAgg = [];
      }
      this.bytesDown += this.codec.encode(round).byteLength;
      const steps: RoundStep[] = [
        loadGlobalWeights,
        trainStudent,
        privatiseDelta,
        ...(secure ? [maskDelta(secure)] : []),
        composeUpdate,
        deliverUpdate({
          send: (update) => this.options.transport.sendUpdate(update),
          connected: () => this.options.transport.connected,
          bytesOf: (update) => this.codec.encode(update).byteLength,
          delivered: (bytes) => (this.bytesUp += bytes),
        }),
      ];
      await runRound(round, steps, {
        model,
        spec,
        numParams: this.joined.model.numParams,
        data: this.options.data,
        validation: this.options.validation,
        proxy: this.roundProxy(round),
        seed: this.options.seed ?? 0,
        signal: abort.signal,
        emit: (event) => this.emit(event),
      });
    } catch (error) {
      this.emit({ type: 'error', message: `round ${round.roundId}: ${(error as Error).message}` });
    } finally {
      this.finishedRounds.add(roundKey);
      if (this.busy?.key === roundKey) this.busy = undefined;
      finished();
    }
  }

  /** The proxy set this round trains on: the teacher's soft labels, or the consensus blended with them. */
  private roundProxy(round: RoundStart): ProxyData | undefined {
    if (!this.proxy || !round.consensus) return this.proxy;
    const numClasses = this.proxy.softLabels.length / this.proxy.count;
    const probs = decodeSoftLabels(round.consensus.probs, {
      maxElements: round.consensus.indices.length * numClasses,
    });
    return consensusProxy(
      this.proxy,
      round.consensus.indices,
      probs,
      round.config.consensusWeight ?? 0.5,
    );
  }

  stop(): void {
    this.stopped = true;
    // Nothing may keep waiting for a deadline after stop: not training, masking or delivery.
    this.busy?.abort.abort(new Error('client stopped'));
    this.options.transport.close();
    this.model?.dispose();
    this.model = undefined;
    this.resolveDone('stopped');
  }
}
