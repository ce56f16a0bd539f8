/**
 * The simulation's transport pair without a coordinator: a SimHub link and a
 * PortTransport on the two ends of a MessageChannel. Events and acks cross,
 * artifacts are served by hash, and a round's updates reach the coordinator
 * in client-id order whatever order the clients finish in.
 */
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { test } from 'node:test';
import type { ClientLink } from '../../server/clientHub.js';
import { SimHub } from '../../sim/simHub.js';
import type { TappedMessage } from '../../sim/simHub.js';
import { PortTransport } from '../../sim/portTransport.js';
import type { RoundStart, UpdateMessage } from '../../shared/protocol/index.js';

const noHandlers = {
  roundStart: () => undefined,
  roundEnd: () => undefined,
  runEnd: () => undefined,
  secAgg: () => undefined,
  reconnected: () => undefined,
  disconnected: () => undefined,
};

function update(roundId: number): UpdateMessage {
  return {
    roundId,
    modelVersion: 0,
    numSamples: 1,
    metrics: { loss: 1, accuracy: 0.5, trainMillis: 1, steps: 1 },
  };
}

function roundStart(roundId: number): RoundStart {
  return {
    roundId,
    modelVersion: 0,
    deadline: Date.now() + 60_000,
    config: {
      epochs: 1,
      batchSize: 8,
      learningRate: 0.01,
      temperature: 2,
      alpha: 0.5,
      optimizer: 'sgd',
      updatePrecision: 'float32',
    },
  };
}

test('join and update acks cross the port; artifacts come from the store by hash', async () => {
  const bytes = new Uint8Array([1, 2, 3, 4]);
  const tapped: TappedMessage[] = [];
  const hub = new SimHub({
    artifact: (hash) => (hash === 'abcdef0123' ? bytes : undefined),
    tap: (m) => tapped.push(m),
  });
  hub.onConnection((link) => {
    link.on('join', (_request, ack) => {
      link.clientId = 'c1';
      ack({ ok: false, error: { code: 'unauthorized', message: 'no' } });
    });
  });
  const channel = new MessageChannel();
  hub.attach(channel.port1);
  const transport = new PortTransport(channel.port2);
  await transport.connect(noHandlers);
  const reply = await transport.join({ platform: 'sim', backend: 'cpu', numSamples: 3 });
  assert.deepEqual(reply, { ok: false, error: { code: 'unauthorized', message: 'no' } });
  const fetched = await transport.fetchArtifact({ url: '/a', hash: 'abcdef0123', bytes: 4 });
  assert.deepEqual([...fetched], [1, 2, 3, 4]);
  assert.notEqual(fetched, bytes, 'a copy, as over a network');
  await assert.rejects(
    transport.fetchArtifact({ url: '/b', hash: 'ffffffffff', bytes: 1 }),
    /no artifact/,
  );
  assert.deepEqual(
    tapped.map((m) => `${m.direction} ${m.event}`),
    ['up join'],
  );
  transport.close();
  assert.equal(transport.connected, false);
});

test("a round's updates reach the coordinator in client-id order, after the last one arrives", async () => {
  const hub = new SimHub({ artifact: () => undefined });
  const links: ClientLink[] = [];
  const received: string[] = [];
  hub.onConnection((link) => {
    links.push(link);
    link.on('join', (request, ack) => {
      link.clientId = request.clientId!;
      ack({ ok: false, error: { code: 'internal', message: 'test' } });
    });
    link.on('update', (_update, ack) => {
      received.push(link.clientId!);
      ack({ ok: true, roundId: 1 });
    });
  });
  const ids = ['c2', 'c0', 'c1'];
  const transports: PortTransport[] = [];
  const started: string[] = [];
  for (const id of ids) {
    const channel = new MessageChannel();
    hub.attach(channel.port1);
    const transport = new PortTransport(channel.port2);
    await transport.connect({ ...noHandlers, roundStart: () => started.push(id) });
    await transport.join({ clientId: id, platform: 'sim', backend: 'cpu', numSamples: 1 });
    transports.push(transport);
  }
  // The coordinator samples all three for round 1.
  for (const link of links) link.emit('round:start', roundStart(1));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(started.sort(), ['c0', 'c1', 'c2']);
  // c2 finishes first, then c1; nothing is handed over until c0 is in as well.
  const acks = [transports[0]!.sendUpdate(update(1)), transports[2]!.sendUpdate(update(1))];
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(received, []);
  acks.push(transports[1]!.sendUpdate(update(1)));
  await Promise.all(acks);
  assert.deepEqual(received, ['c0', 'c1', 'c2']);
  // An update for a round nobody was sampled in goes straight through.
  await transports[0]!.sendUpdate(update(9));
  assert.deepEqual(received, ['c0', 'c1', 'c2', 'c2']);
  for (const t of transports) t.close();
});

test('a client that disconnects mid-round no longer holds back the others', async () => {
  const hub = new SimHub({ artifact: () => undefined });
  const links: ClientLink[] = [];
  const received: string[] = [];
  const left: string[] = [];
  hub.onConnection((link) => {
    links.push(link);
    link.on('join', (request, ack) => {
      link.clientId = request.clientId!;
      ack({ ok: false, error: { code: 'internal', message: 'test' } });
    });
    link.on('update', (_update, ack) => {
      received.push(link.clientId!);
      ack({ ok: true, roundId: 1 });
    });
    link.onDisconnect(() => left.push(link.clientId!));
  });
  const transports: PortTransport[] = [];
  for (const id of ['a', 'b']) {
    const channel = new MessageChannel();
    hub.attach(channel.port1);
    const transport = new PortTransport(channel.port2);
    await transport.connect(noHandlers);
    await transport.join({ clientId: id, platform: 'sim', backend: 'cpu', numSamples: 1 });
    transports.push(transport);
  }
  for (const link of links) link.emit('round:start', roundStart(1));
  const pending = transports[1]!.sendUpdate(update(1));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(received, []);
  transports[0]!.close();
  await pending;
  assert.deepEqual(received, ['b']);
  assert.deepEqual(left, ['a']);
  transports[1]!.close();
});
