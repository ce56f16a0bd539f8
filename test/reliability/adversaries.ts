/**
 * Hostile peers for the reliability tests: socket.io-client connections that
 * speak the coordinator's MessagePack parser but send whatever they like, raw
 * engine.io WebSocket frames (the `ws` package, installed as a dependency of
 * socket.io / engine.io, imported directly here), and generators of payloads
 * the coordinator must refuse. Every generator is driven by a seeded Rng.
 */
import { io, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';
import { createCodec, createSocketParser, encodeWeights } from '../../shared/codec/index.js';
import type { Rng } from '../../shared/data/index.js';
import { PROTOCOL_VERSION, joinRequestSchema, updateSchema } from '../../shared/protocol/index.js';

/** A socket.io client socket with untyped events: adversaries send anything. */
export type RawSocket = Socket;

export interface ConnectOutcome {
  socket: RawSocket;
  /** Set when the coordinator refused the handshake (CONNECT_ERROR). */
  refused?: { code: string; message: string };
}

/** Why each socket disconnected, kept for a caller that asks after the fact. */
const disconnectReasons = new WeakMap<RawSocket, string>();

/**
 * Opens one socket.io connection of its own (never multiplexed with another
 * test socket, never reconnecting by itself) with the given handshake auth.
 */
export function connectSocket(
  url: string,
  auth: unknown,
  timeoutMs = 10_000,
): Promise<ConnectOutcome> {
  const socket: RawSocket = io(url, {
    parser: createSocketParser(),
    auth: auth as Record<string, unknown>,
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: timeoutMs,
  });
  socket.on('disconnect', (reason: string) => disconnectReasons.set(socket, reason));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no answer to the handshake within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve({ socket });
    });
    socket.once('connect_error', (error: Error & { data?: { code?: string } }) => {
      clearTimeout(timer);
      socket.close();
      if (error.data?.code)
        resolve({ socket, refused: { code: error.data.code, message: error.message } });
      else reject(error);
    });
  });
}

/** Resolves with the disconnect reason, or 'timeout' if the socket is still up after `timeoutMs`. */
export function disconnected(socket: RawSocket, timeoutMs: number): Promise<string> {
  if (!socket.connected) return Promise.resolve(disconnectReasons.get(socket) ?? 'never connected');
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), timeoutMs);
    socket.once('disconnect', (reason: string) => {
      clearTimeout(timer);
      resolve(reason);
    });
  });
}

/** What the coordinator told an adversary about the round it may answer. */
export interface RoundView {
  roundId: number;
  modelVersion: number;
  numParams: number;
}

const VALID_METRICS = { loss: 1.25, accuracy: 0.5, trainMillis: 12, steps: 4 };

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)]!;
}

/** Values of every msgpack type, for fields that expect another one. */
function wrongValue(rng: Rng): unknown {
  return pick(rng, [
    null,
    true,
    -1,
    0,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    -Number.MAX_VALUE,
    2 ** 53 + 2,
    '',
    'x'.repeat(1 + rng.int(300)),
    [],
    [1, 2, 3],
    {},
    { nested: { deeper: [null] } },
    new Uint8Array(3),
    new Float32Array([Number.NaN]),
    new Float64Array(2),
  ]);
}

const JOIN_BASE = { platform: 'node', backend: 'cpu', numSamples: 100 } as const;

/** A join request that `joinRequestSchema` refuses (checked, so it can never join). */
export function invalidJoin(rng: Rng): unknown {
  for (;;) {
    let value: unknown;
    const base: Record<string, unknown> = { ...JOIN_BASE, name: 'adversary' };
    switch (rng.int(6)) {
      case 0:
        value = wrongValue(rng);
        break;
      case 1: {
        const keys = Object.keys(base).filter((k) => k !== 'name');
        delete base[pick(rng, keys)];
        value = base;
        break;
      }
      case 2:
        base[pick(rng, ['platform', 'backend', 'numSamples', 'clientId', 'name'])] =
          wrongValue(rng);
        value = base;
        break;
      case 3:
        // Extra fields, including names of Object.prototype members.
        base[pick(rng, ['admin', 'toString', 'hasOwnProperty', 'valueOf', 'sampled', 'roundId'])] =
          wrongValue(rng);
        value = base;
        break;
      case 4:
        base.platform = pick(rng, ['toaster', 'NODE', 'browser ', '']);
        value = base;
        break;
      default:
        base.numSamples = pick(rng, [-1, 0.5, 1e300, Number.NaN, '100']);
        value = base;
    }
    if (!joinRequestSchema.safeParse(value).success) return value;
  }
}

export interface HostileUpdate {
  kind: string;
  payload: unknown;
  /** True when `updateSchema` refuses it: a joined client then gets 'invalid-payload' whatever the round. */
  schemaInvalid: boolean;
}

function deltaOf(
  length: number,
  fill = 0,
): { precision: 'float32'; length: number; data: Float32Array } {
  return { precision: 'float32', length, data: new Float32Array(length).fill(fill) };
}

/**
 * An update with at least one defect that makes the coordinator refuse it in
 * any round state: kinds that only name another round or model version also
 * carry a delta one weight too long, so even a lucky round match is refused.
 */
export function hostileUpdate(rng: Rng, view: RoundView): HostileUpdate {
  const n = view.numParams;
  const wrongLength = n + 1 + rng.int(3);
  const base = (): Record<string, unknown> => ({
    roundId: view.roundId,
    modelVersion: view.modelVersion,
    numSamples: 1 + rng.int(1000),
    delta: deltaOf(wrongLength),
    metrics: { ...VALID_METRICS },
  });
  const kinds = [
    'not-an-object',
    'missing-field',
    'extra-field',
    'wrong-field-type',
    'bad-metrics',
    'bad-num-samples',
    'huge-array',
    'nan',
    'infinity',
    'short-delta',
    'long-delta',
    'length-lie',
    'precision-lie',
    'int8-no-scale',
    'other-round',
    'stale-model',
    'no-delta',
    'predictions',
  ] as const;
  const kind = pick(rng, kinds);
  let payload: unknown;
  switch (kind) {
    case 'not-an-object':
      payload = wrongValue(rng);
      break;
    case 'missing-field': {
      const value = base();
      delete value[pick(rng, ['roundId', 'modelVersion', 'numSamples', 'metrics'])];
      payload = value;
      break;
    }
    case 'extra-field': {
      const value = base();
      value[pick(rng, ['weights', 'toString', 'isPrototypeOf', 'clientId', 'accepted'])] =
        wrongValue(rng);
      payload = value;
      break;
    }
    case 'wrong-field-type': {
      const value = base();
      const field = pick(rng, ['roundId', 'modelVersion', 'numSamples', 'delta', 'metrics']);
      let replacement = wrongValue(rng);
      // A wrong type must stay wrong: integers are right for the integer fields.
      if (field !== 'delta' && field !== 'metrics' && Number.isInteger(replacement))
        replacement = 'x';
      value[field] = replacement;
      payload = value;
      break;
    }
    case 'bad-metrics': {
      const value = base();
      value.metrics = {
        ...VALID_METRICS,
        [pick(rng, ['loss', 'accuracy', 'trainMillis', 'steps'])]: pick(rng, [
          Number.NaN,
          Number.NEGATIVE_INFINITY,
          -5,
          1.5e9,
          'low',
        ]),
      };
      payload = value;
      break;
    }
    case 'bad-num-samples': {
      const value = base();
      value.numSamples = pick(rng, [0, -7, 2.5, 1e10, Number.NaN]);
      payload = value;
      break;
    }
    case 'huge-array': {
      const value = base();
      // Past the schema's bounds: 100,001 segments, or weights as a plain msgpack array.
      value.delta =
        rng.next() < 0.5
          ? {
              precision: 'int8',
              length: n,
              data: new Int8Array(n),
              segments: new Array<number>(100_001).fill(1),
            }
          : { precision: 'float32', length: n, data: new Array<number>(n).fill(0.5) };
      payload = value;
      break;
    }
    case 'nan':
    case 'infinity': {
      const value = base();
      const delta = deltaOf(n);
      delta.data[rng.int(n)] =
        kind === 'nan' ? Number.NaN : rng.next() < 0.5 ? Infinity : -Infinity;
      value.delta = delta;
      payload = value;
      break;
    }
    case 'short-delta':
    case 'long-delta': {
      const value = base();
      // Now and then a long one of up to 1.6 MB, still under the 2 MiB frame limit.
      const extra = rng.next() < 0.01 ? 300_000 + rng.int(100_000) : 1 + rng.int(2000);
      value.delta = deltaOf(kind === 'short-delta' ? rng.int(n) : n + extra);
      payload = value;
      break;
    }
    case 'length-lie': {
      const value = base();
      value.delta = { precision: 'float32', length: n, data: new Float32Array(rng.int(n)) };
      payload = value;
      break;
    }
    case 'precision-lie': {
      const value = base();
      value.delta = { precision: 'float16', length: n, data: new Float32Array(n) };
      payload = value;
      break;
    }
    case 'int8-no-scale': {
      const value = base();
      value.delta = { precision: 'int8', length: n, data: new Int8Array(n) };
      payload = value;
      break;
    }
    case 'other-round': {
      const value = base();
      value.roundId = pick(rng, [
        view.roundId + 1,
        view.roundId + 2,
        Math.max(1, view.roundId - 1),
        1_000_000_007,
      ]);
      payload = value;
      break;
    }
    case 'stale-model': {
      const value = base();
      value.modelVersion = Math.max(0, view.modelVersion + pick(rng, [-1, 1, 5, 1000]));
      payload = value;
      break;
    }
    case 'no-delta': {
      const value = base();
      delete value.delta;
      payload = value;
      break;
    }
    case 'predictions': {
      // Schema-valid predictions in a round that asked for none.
      const value = base();
      value.delta = deltaOf(n);
      value.predictions = {
        indices: Int32Array.from([0, 1]),
        probs: encodeWeightsAsSoftLabels(),
      };
      payload = value;
      break;
    }
  }
  return { kind, payload, schemaInvalid: !updateSchema.safeParse(payload).success };
}

function encodeWeightsAsSoftLabels(): Record<string, unknown> {
  return {
    format: 'fedistill.softlabels/1',
    count: 2,
    numClasses: 10,
    topK: 10,
    precision: 'float32',
    values: new Float32Array(20).fill(0.1),
  };
}

/** A well-formed update (the template raw frames are mutated from). */
export function wellFormedUpdate(view: RoundView): Record<string, unknown> {
  return {
    roundId: view.roundId,
    modelVersion: view.modelVersion,
    numSamples: 10,
    delta: encodeWeights(new Float32Array(view.numParams), 'float32'),
    metrics: { ...VALID_METRICS },
  };
}

/** Event names no coordinator listens to (some are its own outbound events). */
export function unknownEventName(rng: Rng): string {
  return pick(rng, [
    'round:start',
    'round:end',
    'run:end',
    'admin:stop',
    'Update',
    'join ',
    'x'.repeat(1 + rng.int(64)),
    `event-${rng.int(1e6)}`,
  ]);
}

// ---------------------------------------------------------------- raw frames

export interface GarbageFrame {
  kind: string;
  frame: Uint8Array | string;
}

function deepArray(depth: number): unknown {
  let value: unknown = [1];
  for (let i = 1; i < depth; i++) value = [value];
  return value;
}

/**
 * A WebSocket frame that the coordinator's parser (with `maxBytes`) must
 * refuse, dropping the connection: random and mutated MessagePack, truncated
 * packets, text where binary belongs, engine.io garbage, forbidden keys,
 * nesting, array and map bounds, BINARY_* and reserved packets, oversize.
 * `large` draws from the two big kinds only (an array of 2^20 + 1 elements,
 * about 1 MB; a frame one byte over `maxBytes`). Binary frames are checked
 * against a local decoder with the same limits.
 */
export function garbageFrame(
  rng: Rng,
  view: RoundView,
  maxBytes: number,
  large: boolean,
): GarbageFrame {
  const codec = createCodec({ maxBytes: 64 * 1024 * 1024 });
  const decoder = new (createSocketParser({ maxBytes }).Decoder)();
  const packet = (data: unknown, type = 2): Uint8Array => codec.encode({ type, nsp: '/', data });
  // A small template, so that mutations land in the packet's structure rather than in weights.
  const small: RoundView = { ...view, numParams: 8 };
  const template = packet(['update', wellFormedUpdate(small)]);
  for (;;) {
    const kinds = large
      ? ['array-too-long', 'oversize']
      : [
          'random-bytes',
          'truncated',
          'bit-flip',
          'text-message',
          'engine-garbage',
          'binary-event-type',
          'reserved-event',
          'ack-without-id',
          'forbidden-key',
          'too-deep',
          'too-many-keys',
          'not-a-packet',
          'bad-namespace',
        ];
    const kind = pick(rng, kinds);
    let frame: Uint8Array | string;
    switch (kind) {
      case 'random-bytes':
        frame = Uint8Array.from({ length: 1 + rng.int(256) }, () => rng.int(256));
        break;
      case 'truncated':
        frame = template.slice(0, 1 + rng.int(template.length - 1));
        break;
      case 'bit-flip': {
        frame = template.slice();
        for (let i = 0, flips = 1 + rng.int(4); i < flips; i++)
          frame[rng.int(frame.length)]! ^= 1 << rng.int(8);
        break;
      }
      case 'text-message':
        // An engine.io message packet ("4…") carrying text: socket.io's default encoding, not ours.
        frame = `4${pick(rng, ['2["update",{}]', '0/,{"token":"x"}', 'hello', '42["join"]'])}`;
        break;
      case 'engine-garbage':
        frame = pick(rng, ['x', '9', 'zz{}', '\u0000\u0001', '7 garbage']);
        break;
      case 'binary-event-type':
        frame = packet(['update', {}], 5);
        break;
      case 'reserved-event':
        frame = packet([pick(rng, ['connect', 'disconnect', 'disconnecting', 'newListener'])]);
        break;
      case 'ack-without-id':
        frame = codec.encode({ type: 3, nsp: '/', data: [] });
        break;
      case 'forbidden-key': {
        const key = pick(rng, ['__proto__', 'constructor', 'prototype']);
        const update = wellFormedUpdate(small);
        const where = rng.int(3);
        if (where === 0) frame = packet(['update', { ...update, [key]: { polluted: true } }]);
        else if (where === 1)
          frame = packet(['update', { ...update, metrics: { ...VALID_METRICS, [key]: 1 } }]);
        else frame = packet(['join', { ...JOIN_BASE, [key]: { isAdmin: true } }]);
        break;
      }
      case 'too-deep':
        frame = packet(['update', deepArray(33 + rng.int(20))]);
        break;
      case 'too-many-keys':
        frame = packet([
          'update',
          Object.fromEntries(Array.from({ length: 4097 + rng.int(100) }, (_, i) => [`k${i}`, i])),
        ]);
        break;
      case 'not-a-packet':
        frame = codec.encode(
          pick(rng, [42, 'update', [2, '/', ['update']], null, new Float32Array(4)]),
        );
        break;
      case 'bad-namespace':
        frame = codec.encode({ type: 2, nsp: pick(rng, ['', 'chat', 7]), data: ['update', {}] });
        break;
      case 'array-too-long':
        frame = packet(['update', new Array<number>((1 << 20) + 1).fill(0)]);
        break;
      default:
        // One byte over the coordinator's frame limit.
        frame = new Uint8Array(maxBytes + 1).fill(0xc1);
    }
    if (typeof frame === 'string') return { kind, frame };
    try {
      decoder.add(frame);
    } catch {
      return { kind, frame };
    }
    // A mutation that still decodes to a valid packet is not garbage: draw again.
  }
}

export interface RawConnection {
  ws: WebSocket;
  /** Resolves with the close code once the connection is closed (by either side). */
  closed: Promise<number>;
}

/**
 * Opens a bare engine.io WebSocket to the socket.io endpoint (no socket.io
 * client in between) and waits for engine.io's open packet; with
 * `auth`, also sends socket.io's CONNECT for "/" and waits for the answer.
 */
export async function openRawConnection(
  baseUrl: string,
  auth?: Record<string, unknown>,
  timeoutMs = 10_000,
): Promise<RawConnection> {
  const url = `${baseUrl.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`;
  const ws = new WebSocket(url);
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  const codec = createCodec();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('raw connection: no open packet')), timeoutMs);
    let opened = false;
    ws.on('error', () => undefined);
    ws.on('message', (data, isBinary) => {
      if (!opened && !isBinary && data.toString().startsWith('0')) {
        opened = true;
        if (!auth) {
          clearTimeout(timer);
          resolve();
          return;
        }
        ws.send(codec.encode({ type: 0, nsp: '/', data: auth }));
        return;
      }
      if (opened && auth && isBinary) {
        const reply = codec.decode(data as Buffer) as { type?: number };
        clearTimeout(timer);
        if (reply.type === 0) resolve();
        else reject(new Error(`raw connection: CONNECT answered with packet type ${reply.type}`));
      }
    });
    ws.once('close', () => reject(new Error('raw connection closed during the handshake')));
  });
  return { ws, closed };
}

export const VALID_AUTH = (token: string) => ({ protocolVersion: PROTOCOL_VERSION, token });

/** Where a hostile member of a secure round stands once it has the roster. */
export interface SecureRoundView {
  roundId: number;
  modelVersion: number;
  /** Its own id in the round. */
  self: number;
  /** The round's secure-aggregation session (every step names it). */
  session: string;
  /** Every roster member's id, its own included. */
  roster: readonly number[];
}

/**
 * A secure-aggregation step message (or masked update) that the coordinator
 * must refuse while the share step is open and this member has sent no valid
 * shares: each is wrong by construction — a wrong type or length, another
 * round, a step out of phase, a share set that includes itself, a stranger or
 * a repeat, an unknown field. Never an acceptable share set.
 */
export function hostileSecAgg(
  rng: Rng,
  view: SecureRoundView,
): { event: string; payload: unknown } {
  const { roundId, self, roster, session } = view;
  const sized = (n: number) => new Uint8Array(n).map(() => rng.int(256));
  const wrongSize = (n: number) => sized(pick(rng, [0, 1, n - 1, n + 1, 4 * n]));
  const others = roster.filter((id) => id !== self);
  const share = (to: number, ok = true) => ({
    to,
    iv: ok ? sized(12) : wrongSize(12),
    ciphertext: ok ? sized(156) : wrongSize(156),
  });
  const badShareSet = () =>
    pick(rng, [
      () => [...others.map((to) => share(to)), share(self)],
      () => [...others.map((to) => share(to)), share(others[0]!)],
      () => others.slice(1).map((to) => share(to)),
      () => [...others.slice(1).map((to) => share(to)), share(900 + rng.int(100))],
      () => others.map((to, i) => share(to, i !== 0)),
      () => [],
    ])();
  const secagg = (payload: unknown) => ({ event: 'secagg', payload });
  return pick(rng, [
    () => secagg(wrongValue(rng)),
    () => secagg({ step: pick(rng, ['', 'KEYS', 'unmask', 'roster', 'masked']), roundId }),
    () => secagg({ step: 'keys', roundId, session, channelKey: wrongSize(65), maskKey: sized(65) }),
    // Another attempt's session (the round as a restarted coordinator ran it before).
    () => secagg({ step: 'shares', roundId, session: `${session}x`, shares: badShareSet() }),
    // Right sizes, but the key step has closed.
    () => secagg({ step: 'keys', roundId, session, channelKey: sized(65), maskKey: sized(65) }),
    () => secagg({ step: 'shares', roundId, session, shares: badShareSet() }),
    () =>
      secagg({ step: 'shares', session, roundId: roundId + 1 + rng.int(5), shares: badShareSet() }),
    () =>
      secagg({ step: 'shares', roundId, session, shares: badShareSet(), extra: wrongValue(rng) }),
    () => secagg({ step: 'shares', session, roundId: wrongValue(rng), shares: badShareSet() }),
    () =>
      secagg({
        step: 'reveal',
        roundId,
        session,
        selfMaskShares: roster.map((owner) => ({ owner, share: sized(66) })),
        maskKeyShares: [],
      }),
    () =>
      secagg({
        step: 'reveal',
        roundId,
        session,
        selfMaskShares: [{ owner: self, share: wrongSize(66) }],
        maskKeyShares: wrongValue(rng),
      }),
    () => ({
      event: 'update',
      payload: {
        roundId,
        modelVersion: view.modelVersion,
        numSamples: 1 + rng.int(1000),
        masked: new Uint32Array(1 + rng.int(64)),
        session,
        metrics: VALID_METRICS,
      },
    }),
  ])();
}
