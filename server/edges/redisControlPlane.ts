/**
 * The control plane between edges and the master: Redis streams (ioredis),
 * one up-stream every edge writes to and the master reads, and one
 * down-stream per edge that only the master writes to — so everything the
 * master tells one edge (acks, events, a round's close) arrives in the order
 * it was sent. Every entry is a signed envelope (envelope.ts) with a
 * MessagePack body; partial sums travel the same way, as binary, never
 * through a socket.io adapter.
 */
import type { Redis } from 'ioredis';
import { createCodec } from '../../shared/codec/index.js';
import { connectRedis, probeRedis } from '../../node/redis.js';
import type { Direction } from './envelope.js';
import { ReplayGuard, newIncarnation, seal, verifySeal } from './envelope.js';

/** Entries kept per stream (approximately): enough for any backlog, bounded for a long run. */
const STREAM_LENGTH = 10_000;

/** Peers here are the project's own processes, but partial sums are parameter-sized. */
export const edgeCodec = createCodec({
  maxBytes: 512 * 1024 * 1024,
  maxArrayLength: 1 << 24,
  maxKeys: 1 << 16,
});

/** The Redis keys of one edge cluster (`--edge-cluster`, so several runs may share a server). */
export function edgeKeys(cluster: string) {
  const base = `fedistill:edges:${cluster}`;
  return {
    up: `${base}:up`,
    down: (edge: string) => `${base}:down:${edge}`,
    artifact: (hash: string) => `${base}:artifact:${hash}`,
    /** The master's incarnation, present while Redis holds what the master put there. */
    marker: `${base}:master`,
  };
}
export type EdgeKeys = ReturnType<typeof edgeKeys>;

/** Probes Redis (probeRedis), then returns a long-lived connection that retries forever. */
export async function openRedis(url: string, onError: (error: Error) => void): Promise<Redis> {
  await probeRedis(url);
  return connectRedis(url, onError);
}

/** Writes signed entries to streams, each with the next sequence number of this incarnation. */
export class SignedWriter {
  private seq = 0;

  constructor(
    private readonly redis: Redis,
    private readonly secret: string,
    private readonly direction: Direction,
    /** This sender's incarnation; a fresh one per process. */
    readonly incarnation: string = newIncarnation(),
  ) {}

  /**
   * Appends `message` to `key`, sealed for `edge`: `bytes` is the entry's size, `written`
   * resolves once Redis has it (entries of one writer arrive in the order sent).
   */
  send(key: string, edge: string, message: unknown): { bytes: number; written: Promise<void> } {
    const body = edgeCodec.encode(message);
    const seq = ++this.seq;
    const { mac } = seal(
      { secret: this.secret, stream: key, direction: this.direction },
      { edge, incarnation: this.incarnation, seq, body },
    );
    const written = this.redis
      .xadd(
        key,
        'MAXLEN',
        '~',
        String(STREAM_LENGTH),
        '*',
        'e',
        edge,
        'i',
        this.incarnation,
        's',
        String(seq),
        'b',
        Buffer.from(body.buffer, body.byteOffset, body.byteLength),
        'h',
        Buffer.from(mac.buffer, mac.byteOffset, mac.byteLength),
      )
      .then(() => undefined);
    return {
      bytes: body.byteLength + mac.byteLength + edge.length + this.incarnation.length,
      written,
    };
  }
}

export interface ReadEntry {
  /** The edge the envelope names (not yet trusted when `refused` is set). */
  edge: string;
  /** The sender's incarnation (not yet trusted when `refused` is set). */
  incarnation: string;
  /** The decoded body; undefined when refused. */
  message: unknown;
  /** Why the entry cannot be trusted (bad seal, not MessagePack); undefined when it can. */
  refused?: string;
  /** Size of the entry's fields in bytes. */
  bytes: number;
}

/** Orders two stream entry ids (`<ms>-<seq>`). */
export function compareIds(a: string, b: string): number {
  const [aMs, aSeq] = a.split('-').map((part) => BigInt(part || '0'));
  const [bMs, bSeq] = b.split('-').map((part) => BigInt(part || '0'));
  if (aMs !== bMs) return aMs! < bMs! ? -1 : 1;
  if (aSeq !== bSeq) return (aSeq ?? 0n) < (bSeq ?? 0n) ? -1 : 1;
  return 0;
}

/** How long stop() waits for the reading loop to end. */
const STOP_WAIT_MS = 2000;

/** Entries one XREAD takes at most: a backlog is read in bounded slices. */
const READ_COUNT = 100;

/**
 * Reads one stream from the moment it is made on (XREAD BLOCK on a connection of its own),
 * checking each entry's seal before decoding its body, and hands entries over in order. Where
 * "now" is comes from Redis (the stream's last entry id), not from this host's clock, whose skew
 * against the server's would skip or replay entries.
 */
export class SignedReader {
  private stopped = false;
  /** The last entry read; undefined until the start is taken from Redis. */
  private lastId: string | undefined;
  private readonly guard = new ReplayGuard();
  /** Set when the connection comes back: the stream may be a new, empty one (see loop). */
  private recheck = false;
  private readonly done: Promise<void>;
  private markReady!: () => void;
  /** Resolves once the reader knows where the stream ends (entries from then on are read). */
  readonly ready = new Promise<void>((resolve) => (this.markReady = resolve));

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly secret: string,
    private readonly direction: Direction,
    private readonly onEntry: (entry: ReadEntry) => void,
    private readonly onError: (error: Error) => void,
  ) {
    redis.on('ready', () => (this.recheck = this.lastId !== undefined));
    this.done = this.loop();
  }

  /**
   * After a reconnect: Redis restarted without persistence has a new stream whose entry ids
   * start again from where its clock is, possibly below the last id read here (another host's
   * clock, or ids written explicitly); XREAD from the old last id would wait for ids above it
   * and miss every new entry. When the stream's newest entry is below the last id read (or the
   * stream is empty), read it from its beginning. Entries already read are never below it.
   */
  private async restartIfNewStream(): Promise<void> {
    this.recheck = false;
    const last = await this.redis.xrevrange(this.key, '+', '-', 'COUNT', 1);
    const newest = last[0]?.[0];
    if (newest === undefined || compareIds(newest, this.lastId!) < 0) this.lastId = '0-0';
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let result: [Buffer, [Buffer, Buffer[]][]][] | null;
      try {
        if (this.lastId === undefined) {
          const last = await this.redis.xrevrange(this.key, '+', '-', 'COUNT', 1);
          // An empty stream: everything written from now on has an id above 0-0.
          this.lastId = last[0]?.[0] ?? '0-0';
          this.markReady();
        } else if (this.recheck) await this.restartIfNewStream();
        result = (await this.redis.xreadBuffer(
          'COUNT',
          READ_COUNT,
          'BLOCK',
          1000,
          'STREAMS',
          this.key,
          this.lastId,
        )) as [Buffer, [Buffer, Buffer[]][]][] | null;
      } catch (error) {
        if (this.stopped) return;
        this.onError(error as Error);
        await new Promise((resolve) => setTimeout(resolve, 500));
        continue;
      }
      for (const [, entries] of result ?? [])
        for (const [entryId, fields] of entries) {
          this.lastId = entryId.toString();
          try {
            this.onEntry(this.open(fields));
          } catch (error) {
            // One entry's handling going wrong must not end the reading (nor the process).
            this.onError(error as Error);
          }
        }
    }
  }

  private open(fields: Buffer[]): ReadEntry {
    const get = (name: string) => {
      for (let i = 0; i + 1 < fields.length; i += 2)
        if (fields[i]!.toString() === name) return fields[i + 1]!;
      return undefined;
    };
    const edge = get('e')?.toString() ?? '';
    const incarnation = get('i')?.toString() ?? '';
    const seqText = get('s')?.toString() ?? '';
    const body = get('b');
    const mac = get('h');
    const bytes = fields.reduce((n, f) => n + f.byteLength, 0);
    const refused = (why: string): ReadEntry => ({
      edge,
      incarnation,
      message: undefined,
      refused: why,
      bytes,
    });
    if (!body || !mac || !/^[1-9][0-9]{0,15}$/.test(seqText) || incarnation.length === 0)
      return refused('entry lacks a body, seal, incarnation or sequence number');
    const seq = Number(seqText);
    const bodyBytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    const context = { secret: this.secret, stream: this.key, direction: this.direction };
    if (!verifySeal(context, { edge, incarnation, seq, body: bodyBytes, mac }))
      return refused('the seal does not verify under the edge secret for this stream');
    const replay = this.guard.check(edge, incarnation, seq);
    if (replay !== undefined) return refused(replay);
    try {
      // A copy: msgpackr's typed arrays must not alias a Buffer that Redis may reuse.
      return { edge, incarnation, message: edgeCodec.decode(new Uint8Array(bodyBytes)), bytes };
    } catch (error) {
      return refused((error as Error).message);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.markReady();
    this.redis.disconnect();
    // A connection dropped while reconnecting (Redis away) never settles the XREAD queued on
    // it: the loop is not waited for longer than a moment.
    await Promise.race([
      this.done,
      new Promise((resolve) => setTimeout(resolve, STOP_WAIT_MS).unref()),
    ]);
  }
}
