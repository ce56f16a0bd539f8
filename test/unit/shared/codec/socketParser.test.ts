import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import type { Socket as ServerSocket } from 'socket.io';
import { io as connect } from 'socket.io-client';
import type { Socket as ClientSocket } from 'socket.io-client';
import { Packr } from 'msgpackr';
import { CodecError } from '../../../../shared/errors.js';
import type { CodecErrorCode } from '../../../../shared/errors.js';
import { SocketPacketType, createSocketParser } from '../../../../shared/codec/index.js';
import type { SocketPacket } from '../../../../shared/codec/index.js';
import { expectCodecError } from './helpers.js';

const parser = createSocketParser();
const rawPackr = new Packr({ moreTypes: true, useRecords: false, structuredClone: false });

function roundTrip(packet: SocketPacket): SocketPacket[] {
  const frames = new parser.Encoder().encode(packet);
  assert.equal(frames.length, 1, 'one binary frame per packet');
  assert.ok(frames[0] instanceof Uint8Array);
  const decoder = new parser.Decoder();
  const out: SocketPacket[] = [];
  decoder.on('decoded', (p: SocketPacket) => out.push(p));
  for (const frame of frames) decoder.add(frame);
  decoder.destroy();
  return out;
}

test('Encoder → Decoder round trip of every packet type, typed arrays kept', () => {
  const weights = new Float32Array([0.5, -1.25]);
  const packets: SocketPacket[] = [
    { type: SocketPacketType.CONNECT, nsp: '/', data: { token: 'abc' } },
    { type: SocketPacketType.CONNECT, nsp: '/admin' },
    { type: SocketPacketType.DISCONNECT, nsp: '/' },
    {
      type: SocketPacketType.EVENT,
      nsp: '/',
      id: 7,
      data: [
        'update',
        { weights, q: new Int8Array([1, -1]), h: new Uint16Array([1]), b: new Uint8Array([9]) },
      ],
    },
    { type: SocketPacketType.ACK, nsp: '/', id: 7, data: [{ ok: true }] },
    { type: SocketPacketType.CONNECT_ERROR, nsp: '/', data: { message: 'not authorized' } },
    { type: SocketPacketType.CONNECT_ERROR, nsp: '/', data: 'nope' },
  ];
  for (const packet of packets) {
    assert.deepEqual(roundTrip(packet), [packet]);
  }
  const [event] = roundTrip(packets[3] as SocketPacket);
  const payload = (event?.data as [string, { weights: Float32Array; q: Int8Array }])[1];
  assert.ok(payload.weights instanceof Float32Array);
  assert.ok(payload.q instanceof Int8Array);
});

test('Decoder.add throws CodecErrors for invalid frames and packets', () => {
  const decoder = new parser.Decoder();
  let decoded = 0;
  decoder.on('decoded', () => decoded++);
  const frame = (value: unknown): Uint8Array => rawPackr.pack(value);
  const cases: [string, unknown, CodecErrorCode][] = [
    ['text frame', '2["hello"]', 'wrong-type'],
    ['a number', 42, 'wrong-type'],
    ['truncated', frame({ type: 2, nsp: '/', data: ['x'] }).subarray(0, 5), 'malformed'],
    ['garbage', new Uint8Array([0xc1, 0x00]), 'malformed'],
    ['not a map', frame([2, '/', ['x']]), 'wrong-type'],
    ['type missing', frame({ nsp: '/', data: ['x'] }), 'wrong-type'],
    ['type 5 (BINARY_EVENT)', frame({ type: 5, nsp: '/', data: ['x'] }), 'wrong-type'],
    ['type 9', frame({ type: 9, nsp: '/' }), 'wrong-type'],
    ['type -1', frame({ type: -1, nsp: '/' }), 'wrong-type'],
    ['type as string', frame({ type: '2', nsp: '/', data: ['x'] }), 'wrong-type'],
    ['nsp missing', frame({ type: 2, data: ['x'] }), 'wrong-type'],
    ['nsp number', frame({ type: 2, nsp: 1, data: ['x'] }), 'wrong-type'],
    ['nsp without slash', frame({ type: 2, nsp: 'admin', data: ['x'] }), 'wrong-type'],
    ['id negative', frame({ type: 2, nsp: '/', id: -1, data: ['x'] }), 'wrong-type'],
    ['id fractional', frame({ type: 2, nsp: '/', id: 1.5, data: ['x'] }), 'wrong-type'],
    ['id string', frame({ type: 2, nsp: '/', id: '1', data: ['x'] }), 'wrong-type'],
    ['EVENT without data', frame({ type: 2, nsp: '/' }), 'wrong-type'],
    ['EVENT empty data', frame({ type: 2, nsp: '/', data: [] }), 'wrong-type'],
    ['EVENT data object', frame({ type: 2, nsp: '/', data: { 0: 'x' } }), 'wrong-type'],
    ['EVENT reserved name', frame({ type: 2, nsp: '/', data: ['disconnect'] }), 'wrong-type'],
    ['EVENT name object', frame({ type: 2, nsp: '/', data: [{}] }), 'wrong-type'],
    ['ACK without id', frame({ type: 3, nsp: '/', data: [] }), 'wrong-type'],
    ['ACK data not array', frame({ type: 3, nsp: '/', id: 1, data: 'x' }), 'wrong-type'],
    ['DISCONNECT with data', frame({ type: 1, nsp: '/', data: 'bye' }), 'wrong-type'],
    ['CONNECT with array', frame({ type: 0, nsp: '/', data: [1] }), 'wrong-type'],
    ['CONNECT_ERROR number', frame({ type: 4, nsp: '/', data: 1 }), 'wrong-type'],
    [
      '__proto__ in data',
      new Uint8Array([
        0x83,
        0xa4,
        ...Buffer.from('type'),
        0x02,
        0xa3,
        ...Buffer.from('nsp'),
        0xa1,
        0x2f,
        0xa4,
        ...Buffer.from('data'),
        0x92,
        0xa1,
        0x78,
        0x81,
        0xa9,
        ...Buffer.from('__proto__'),
        0xc3,
      ]),
      'forbidden-key',
    ],
    ['deep data', deepEventFrame(1000), 'too-deep'],
  ];
  for (const [label, input, code] of cases) {
    expectCodecError(() => decoder.add(input), code, label);
  }
  assert.equal(decoded, 0);
  // The decoder is stateless between frames: a valid frame still decodes after failures.
  decoder.add(frame({ type: 2, nsp: '/', data: ['ok'] }));
  assert.equal(decoded, 1);
});

test('frame size limit applies per parser', () => {
  const small = createSocketParser({ maxBytes: 64 });
  const frames = new small.Encoder().encode({ type: 2, nsp: '/', data: ['x', 'y'.repeat(20)] });
  new small.Decoder().add(frames[0]);
  const big = rawPackr.pack({ type: 2, nsp: '/', data: ['x', 'y'.repeat(100)] });
  expectCodecError(() => new small.Decoder().add(big), 'too-large', 'over maxBytes');
});

/** An EVENT frame whose payload nests `depth` arrays. */
function deepEventFrame(depth: number): Uint8Array {
  const head = rawPackr.pack({ type: 2, nsp: '/', data: ['deep', null] });
  // Replace the trailing nil (0xc0) with `depth` nested one-element arrays ending in nil.
  const out = new Uint8Array(head.length - 1 + depth + 1);
  out.set(head.subarray(0, head.length - 1));
  out.fill(0x91, head.length - 1, head.length - 1 + depth);
  out[out.length - 1] = 0xc0;
  return out;
}

// ---- a real socket.io server and clients on 127.0.0.1 ----

interface Harness {
  url: string;
  io: Server;
  serverErrors: Error[];
  close(): Promise<void>;
}

async function startServer(): Promise<Harness> {
  const http = createServer();
  const io = new Server(http, {
    parser: createSocketParser(),
    maxHttpBufferSize: 16 * 1024 * 1024,
  });
  const serverErrors: Error[] = [];
  io.on('connection', (socket: ServerSocket) => {
    socket.on('error', (err: Error) => serverErrors.push(err));
    socket.on('sum', (payload: { weights: Float32Array }, ack: (reply: unknown) => void) => {
      const w = payload.weights;
      ack({
        isFloat32: w instanceof Float32Array,
        sum: w.reduce((a, b) => a + b, 0),
        doubled: w.map((x) => 2 * x),
      });
    });
    socket.emit('welcome', { halves: new Uint16Array([0x3c00]) });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    io,
    serverErrors,
    close: () => new Promise<void>((resolve) => io.close(() => resolve())),
  };
}

function client(url: string, transports: ('websocket' | 'polling')[]): ClientSocket {
  return connect(url, {
    parser: createSocketParser(),
    transports,
    reconnection: false,
    forceNew: true,
    timeout: 5000,
  });
}

function once<T>(socket: ClientSocket, event: string, ms = 5000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${event}`)), ms);
    socket.once(event, (value: T) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

for (const transport of ['websocket', 'polling'] as const) {
  test(`real socket.io server + client (${transport}): emit with ack carrying a Float32Array`, async () => {
    const server = await startServer();
    const sockets: ClientSocket[] = [];
    try {
      const a = client(server.url, [transport]);
      sockets.push(a);
      const welcome = once<{ halves: Uint16Array }>(a, 'welcome');
      await once(a, 'connect');
      assert.ok((await welcome).halves instanceof Uint16Array);
      const weights = new Float32Array([1.5, 2.25, -0.75]);
      const reply = (await a.timeout(5000).emitWithAck('sum', { weights })) as {
        isFloat32: boolean;
        sum: number;
        doubled: Float32Array;
      };
      assert.equal(reply.isFloat32, true);
      assert.equal(reply.sum, 3);
      assert.ok(reply.doubled instanceof Float32Array);
      assert.deepEqual([...reply.doubled], [3, 4.5, -1.5]);

      // 1M weights (4 MB) in one frame.
      const big = new Float32Array(1 << 20).fill(0.5);
      const bigReply = (await a.timeout(10_000).emitWithAck('sum', { weights: big })) as {
        sum: number;
      };
      assert.equal(bigReply.sum, (1 << 20) * 0.5);
      assert.deepEqual(server.serverErrors, []);
    } finally {
      for (const s of sockets) s.disconnect();
      await server.close();
    }
  });
}

test('a client sending a malformed frame is disconnected; the server keeps serving others', async () => {
  const server = await startServer();
  const sockets: ClientSocket[] = [];
  try {
    const good = client(server.url, ['websocket']);
    const bad = client(server.url, ['websocket']);
    const worse = client(server.url, ['websocket']);
    sockets.push(good, bad, worse);
    await Promise.all([once(good, 'connect'), once(bad, 'connect'), once(worse, 'connect')]);

    // Write straight to the engine, bypassing the client's encoder.
    const badGone = once<string>(bad, 'disconnect');
    bad.io.engine.write(new Uint8Array([0x82, 0xa4, 0x74, 0x79])); // truncated map
    assert.equal(await badGone, 'transport close');

    // Well-formed MessagePack that is not a valid packet (reserved event name).
    const worseGone = once<string>(worse, 'disconnect');
    worse.io.engine.write(rawPackr.pack({ type: 2, nsp: '/', data: ['disconnect'] }));
    assert.equal(await worseGone, 'transport close');

    const codes = server.serverErrors.map((e) => (e instanceof CodecError ? e.code : e.message));
    assert.deepEqual(codes.sort(), ['malformed', 'wrong-type']);

    const reply = (await good
      .timeout(5000)
      .emitWithAck('sum', { weights: new Float32Array([1, 2]) })) as {
      sum: number;
    };
    assert.equal(reply.sum, 3);
    assert.equal(good.connected, true);
    assert.equal(server.io.engine.clientsCount, 1);
  } finally {
    for (const s of sockets) s.disconnect();
    await server.close();
  }
});
