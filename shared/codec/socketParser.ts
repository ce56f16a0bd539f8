/**
 * A socket.io parser (the `parser` option of both socket.io's Server and
 * socket.io-client) that sends every packet as one binary MessagePack frame
 * through the project codec.
 *
 * Why not the default parser: it JSON-encodes and splits binary into
 * attachments (a Float32Array in an event becomes a placeholder plus a raw
 * buffer, and comes back as a Buffer/ArrayBuffer, not a Float32Array). Here a
 * packet `{ type, nsp, id?, data? }` is packed whole, typed arrays travel as
 * typed arrays, and the decode limits bound every frame.
 *
 * Packet types are socket.io protocol 5's CONNECT 0, DISCONNECT 1, EVENT 2,
 * ACK 3, CONNECT_ERROR 4; the BINARY_* types (5, 6) are never produced and are
 * rejected, since binary needs no attachments here.
 *
 * Errors: `Decoder.add` throws a CodecError for anything that is not a valid
 * packet (text frames, malformed MessagePack, limits, bad packet shape).
 * That is socket.io-parser's contract: the server's Client catches it, emits
 * "error" on that connection's sockets and closes only that connection; the
 * client's Manager closes with reason "parse error".
 */
import { Emitter } from '@socket.io/component-emitter';
import { CodecError } from '../errors.js';
import type { Codec } from './codec.js';
import { createCodec, describe } from './codec.js';
import type { DecodeLimits } from './limits.js';

/** socket.io protocol revision this parser implements. */
export const SOCKET_IO_PROTOCOL = 5;

export const SocketPacketType = {
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
} as const;

/** A socket.io packet as the Server / client hand it to a parser. */
export interface SocketPacket {
  type: number;
  nsp: string;
  data?: unknown;
  id?: number;
}

/** Event names a peer may not emit (socket.io uses them itself). */
export const RESERVED_EVENTS: readonly string[] = [
  'connect',
  'connect_error',
  'disconnect',
  'disconnecting',
  'newListener',
  'removeListener',
];

interface DecoderReservedEvents {
  decoded: (packet: SocketPacket) => void;
}

/** Encodes packets for one peer (socket.io creates one per server / manager). */
export class MsgpackSocketEncoder {
  constructor(private readonly codec: Codec) {}

  /** One binary frame per packet. Only the packet's own fields are packed. */
  encode(packet: SocketPacket): Uint8Array[] {
    const wire: SocketPacket = { type: packet.type, nsp: packet.nsp };
    if (packet.data !== undefined) wire.data = packet.data;
    if (packet.id !== undefined && packet.id !== null) wire.id = packet.id;
    return [this.codec.encode(wire)];
  }
}

/** Decodes the frames of one connection; emits 'decoded' per valid packet. */
export class MsgpackSocketDecoder extends Emitter<
  Record<string, never>,
  Record<string, never>,
  DecoderReservedEvents
> {
  constructor(private readonly codec: Codec) {
    super();
  }

  /**
   * Decodes one frame (Uint8Array / Buffer / ArrayBuffer).
   * @throws CodecError for text frames, undecodable bytes or an invalid packet.
   */
  add(chunk: unknown): void {
    if (typeof chunk === 'string') {
      throw new CodecError(
        'socket parser: text frame where a binary packet was expected',
        'wrong-type',
      );
    }
    const packet = checkSocketPacket(this.codec.decode(chunk as Uint8Array));
    this.emitReserved('decoded', packet);
  }

  /** Nothing is buffered between frames, so there is nothing to release. */
  destroy(): void {}
}

export interface SocketParser {
  readonly protocol: number;
  readonly Encoder: new () => MsgpackSocketEncoder;
  readonly Decoder: new () => MsgpackSocketDecoder;
}

/**
 * Creates a parser object for `new Server(http, { parser })` and
 * `io(url, { parser })`. Both sides must use it. Each frame is decoded with
 * `limits`; socket.io / engine.io apply their own frame limit first (engine.io's
 * `maxHttpBufferSize`, 1 MB by default), so raise that to match `maxBytes`
 * when sending large weight sets.
 */
export function createSocketParser(limits?: Readonly<Partial<DecodeLimits>>): SocketParser {
  const codec = createCodec(limits);
  return {
    protocol: SOCKET_IO_PROTOCOL,
    Encoder: class Encoder extends MsgpackSocketEncoder {
      constructor() {
        super(codec);
      }
    },
    Decoder: class Decoder extends MsgpackSocketDecoder {
      constructor() {
        super(codec);
      }
    },
  };
}

/**
 * Validates a decoded value as a socket.io packet and returns a fresh packet
 * holding only the known fields.
 * @throws CodecError 'wrong-type' naming the offending field.
 */
export function checkSocketPacket(value: unknown): SocketPacket {
  if (!isPlainObject(value)) {
    throw new CodecError(`socket packet: expected a map, got ${describe(value)}`, 'wrong-type');
  }
  const { type, nsp, id, data } = value;
  const bad = (why: string): CodecError => new CodecError(`socket packet: ${why}`, 'wrong-type');
  if (typeof type !== 'number' || !Number.isInteger(type) || type < 0 || type > 4) {
    throw bad(`type ${String(type)} is not one of 0..4`);
  }
  if (typeof nsp !== 'string' || !nsp.startsWith('/')) {
    throw bad(`nsp must be a string starting with "/", got ${describe(nsp)}`);
  }
  if (id !== undefined && !(typeof id === 'number' && Number.isSafeInteger(id) && id >= 0)) {
    throw bad(`id must be a non-negative integer, got ${String(id)}`);
  }
  switch (type) {
    case SocketPacketType.CONNECT:
      if (data !== undefined && !isPlainObject(data)) throw bad('CONNECT data must be a map');
      break;
    case SocketPacketType.DISCONNECT:
      if (data !== undefined) throw bad('DISCONNECT carries no data');
      break;
    case SocketPacketType.EVENT: {
      if (!Array.isArray(data) || data.length === 0)
        throw bad('EVENT data must be a non-empty array');
      const name: unknown = data[0];
      if (!(
        typeof name === 'number' ||
        (typeof name === 'string' && !RESERVED_EVENTS.includes(name))
      )) {
        throw bad(`EVENT name ${JSON.stringify(name) ?? String(name)} is not allowed`);
      }
      break;
    }
    case SocketPacketType.ACK:
      if (!Array.isArray(data)) throw bad('ACK data must be an array');
      if (id === undefined) throw bad('ACK without an id');
      break;
    case SocketPacketType.CONNECT_ERROR:
      if (!(typeof data === 'string' || isPlainObject(data))) {
        throw bad('CONNECT_ERROR data must be a string or a map');
      }
      break;
  }
  const packet: SocketPacket = { type, nsp };
  if (id !== undefined) packet.id = id;
  if (data !== undefined) packet.data = data;
  return packet;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return Object.prototype.toString.call(value) === '[object Object]';
}
