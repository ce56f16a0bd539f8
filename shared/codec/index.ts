// Wire codec: MessagePack with typed arrays and decode limits, weight-set
// encodings, and the socket.io parser built on them.
export { createCodec } from './codec.js';
export type { Codec } from './codec.js';
export { DEFAULT_DECODE_LIMITS, resolveDecodeLimits } from './limits.js';
export type { DecodeLimits } from './limits.js';
export { FORBIDDEN_KEYS, scanMsgpack } from './scan.js';
export { MAX_WEIGHTS_LENGTH, WEIGHT_PRECISIONS, decodeWeights, encodeWeights } from './weights.js';
export type { EncodeWeightsOptions, EncodedWeights, WeightPrecision } from './weights.js';
export {
  MsgpackSocketDecoder,
  MsgpackSocketEncoder,
  RESERVED_EVENTS,
  SOCKET_IO_PROTOCOL,
  SocketPacketType,
  checkSocketPacket,
  createSocketParser,
} from './socketParser.js';
export type { SocketPacket, SocketParser } from './socketParser.js';
