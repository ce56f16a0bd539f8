/**
 * An edge on its own (a real redis-server, no master, the master's messages
 * written by a signed writer): it serves the run's artifacts from Redis only
 * when their bytes hash to their name, answers the clients' health probe, cuts
 * off a connection that keeps sending updates it must refuse itself, keeps an
 * open round's partial when its opening comes again, answers an event the
 * master never answers, refuses malformed joins and abstentions itself, relays
 * no secagg step, and closes a connection that does not join in time.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { io } from 'socket.io-client';
import { createSocketParser } from '../../../../shared/codec/index.js';
import { PROTOCOL_VERSION } from '../../../../shared/protocol/index.js';
import { startEdge, type RunningEdge } from '../../../../server/edges/edgeServer.js';
import type { PartialMessage } from '../../../../server/edges/messages.js';
import {
  SignedReader,
  SignedWriter,
  edgeKeys,
} from '../../../../server/edges/redisControlPlane.js';
import { DEFAULT_UPDATE_BOUND } from '../../../../server/robustness/index.js';
import { startRedis, type TestRedis } from '../../../support/redis.js';
import { deltaUpdate } from '../strategies/context.js';

let redis: TestRedis;
let edge: RunningEdge;
let writer: Redis;
const SECRET = 'a-secret-of-16-chars';

function connect(to: RunningEdge = edge) {
  const socket = io(to.url, {
    transports: ['websocket'],
    parser: createSocketParser(),
    auth: { protocolVersion: PROTOCOL_VERSION },
    reconnection: false,
  });
  return new Promise<typeof socket>((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

async function until(condition: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

before(async () => {
  redis = await startRedis();
  writer = new Redis(redis.url);
  edge = await startEdge({
    redis: redis.url,
    secret: SECRET,
    id: 'lone-edge',
    maxRefusals: 3,
    answerTimeoutMs: 300,
  });
});

after(async () => {
  await edge?.close();
  writer?.disconnect();
  await redis?.stop();
});

test('artifacts come from Redis, and only bytes that hash to their name are served', async () => {
  const keys = edgeKeys('default');
  const bytes = Buffer.from('proxy inputs, say');
  const hash = createHash('sha256').update(bytes).digest('hex');
  await writer.set(keys.artifact(hash), bytes);
  const served = await fetch(`${edge.url}/artifacts/${hash}`);
  assert.equal(served.status, 200);
  assert.deepEqual(Buffer.from(await served.arrayBuffer()), bytes);
  assert.equal(served.headers.get('etag'), `"${hash}"`);
  const tampered = createHash('sha256').update('other bytes').digest('hex');
  await writer.set(keys.artifact(tampered), bytes);
  assert.equal((await fetch(`${edge.url}/artifacts/${tampered}`)).status, 404);
  assert.equal((await fetch(`${edge.url}/artifacts/${'0'.repeat(64)}`)).status, 404);
  assert.equal((await fetch(`${edge.url}/healthz`)).status, 200);
});

test('a connection whose updates the edge keeps refusing is cut off past maxRefusals', async () => {
  const socket = io(edge.url, {
    transports: ['websocket'],
    parser: createSocketParser(),
    auth: { protocolVersion: PROTOCOL_VERSION },
    reconnection: false,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  const closed = new Promise<void>((resolve) => socket.once('disconnect', () => resolve()));
  const answers: unknown[] = [];
  for (let i = 0; i < 4; i++)
    answers.push(
      await socket
        .timeout(5000)
        .emitWithAck('update', { roundId: 1 })
        .catch(() => null),
    );
  await Promise.race([
    closed,
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error('the edge did not cut the connection off')), 5000),
    ),
  ]);
  assert.deepEqual(
    answers.slice(0, 3).map((a) => (a as { error?: { code?: string } }).error?.code),
    ['not-joined', 'not-joined', 'not-joined'],
  );
});

test('a round:open for the round already open keeps its partial; a closed round does not reopen', async () => {
  const keys = edgeKeys('default');
  const downConnection = new Redis(redis.url);
  const down = new SignedWriter(downConnection, SECRET, 'down');
  const partials: PartialMessage[] = [];
  const links: [string, string][] = [];
  const upReader = new SignedReader(
    new Redis(redis.url),
    keys.up,
    SECRET,
    'up',
    (entry) => {
      const message = entry.message as { t?: string; link?: string };
      if (message?.t === 'partial') partials.push(message as PartialMessage);
      // Link ids carry the edge process's incarnation (a restart under the same --id is new).
      if (message?.t === 'connect') links.push([message.link!, entry.incarnation]);
    },
    () => undefined,
  );
  await upReader.ready;
  const open = {
    t: 'round:open',
    roundId: 7,
    numParams: 3,
    updateBound: DEFAULT_UPDATE_BOUND,
    normBound: DEFAULT_UPDATE_BOUND.maxNorm,
  };
  await down.send(keys.down('lone-edge'), 'lone-edge', open).written;
  const socket = await connect();
  // Refused at the edge (not joined), so tallied in round 7's partial.
  await socket.timeout(5000).emitWithAck('update', { roundId: 7 });
  await down.send(keys.down('lone-edge'), 'lone-edge', open).written;
  await down.send(keys.down('lone-edge'), 'lone-edge', { t: 'round:close', roundId: 7 }).written;
  await down.send(keys.down('lone-edge'), 'lone-edge', open).written;
  await down.send(keys.down('lone-edge'), 'lone-edge', { t: 'round:close', roundId: 7 }).written;
  await until(() => partials.length >= 1);
  await new Promise((resolve) => setTimeout(resolve, 500));
  socket.disconnect();
  await upReader.stop();
  downConnection.disconnect();
  assert.equal(partials.length, 1, 'round 7 closed once');
  assert.equal(links.length, 1);
  assert.ok(links[0]![0].startsWith(`${links[0]![1]}.`), `link ${links[0]![0]}`);
  assert.deepEqual(partials[0]!.refusals['not-joined'], {
    count: 1,
    bytes: partials[0]!.refusals['not-joined']!.bytes,
  });
});

test("a cut with rejoin closes only the transport, so the client reconnects; a plain cut is the server's disconnect", async () => {
  const keys = edgeKeys('default');
  const downConnection = new Redis(redis.url);
  const down = new SignedWriter(downConnection, SECRET, 'down');
  const links: string[] = [];
  const upReader = new SignedReader(
    new Redis(redis.url),
    keys.up,
    SECRET,
    'up',
    (entry) => {
      const message = entry.message as { t?: string; link?: string };
      if (message?.t === 'connect') links.push(message.link!);
    },
    () => undefined,
  );
  await upReader.ready;
  // A writer of its own reads as a new master at the edge, which closes every connection:
  // let that happen before this test connects.
  await down.send(keys.down('lone-edge'), 'lone-edge', { t: 'welcome' }).written;
  await new Promise((resolve) => setTimeout(resolve, 300));
  const socket = io(edge.url, {
    transports: ['websocket'],
    parser: createSocketParser(),
    auth: { protocolVersion: PROTOCOL_VERSION },
    reconnectionDelay: 50,
  });
  const reasons: string[] = [];
  let connects = 0;
  socket.on('connect', () => void (connects += 1));
  socket.on('disconnect', (reason) => void reasons.push(reason));
  try {
    await until(() => connects === 1 && links.length === 1);
    await down.send(keys.down('lone-edge'), 'lone-edge', {
      t: 'cut',
      link: links[0]!,
      rejoin: true,
    }).written;
    await until(() => connects === 2 && links.length === 2);
    assert.deepEqual(reasons, ['transport close']);
    await down.send(keys.down('lone-edge'), 'lone-edge', { t: 'cut', link: links[1]! }).written;
    await until(() => reasons.length === 2);
    assert.equal(reasons[1], 'io server disconnect');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(connects, 2, 'after a plain cut the client stays away');
  } finally {
    socket.disconnect();
    await upReader.stop();
    downConnection.disconnect();
  }
});

test('an event the master never answers is answered with a refusal after answerTimeoutMs', async () => {
  const socket = await connect();
  try {
    // No master reads this cluster: the join waits for an answer that never comes.
    const join = { platform: 'node', backend: 'wasm', numSamples: 1 };
    const answer = (await socket.timeout(5000).emitWithAck('join', join)) as {
      ok?: boolean;
      error?: { code?: string; message?: string };
    };
    assert.equal(answer.ok, false);
    assert.equal(answer.error?.code, 'internal');
    assert.match(answer.error?.message ?? '', /did not answer within 300 ms/);
  } finally {
    socket.disconnect();
  }
});

test('the edge refuses a malformed join or abstain itself, and answers a secagg step itself', async () => {
  const socket = await connect();
  try {
    const code = async (event: string, payload: unknown) =>
      (
        (await socket
          .timeout(2000)
          .emitWithAck(event, payload)
          .catch(() => 'no answer')) as {
          error?: { code?: string };
        }
      ).error?.code ?? 'no answer';
    assert.equal(await code('join', { name: 'x' }), 'invalid-payload');
    assert.equal(await code('abstain', { reason: 'bored' }), 'invalid-payload');
    // A secure group's steps are the edge's own (edgeSecureGroup.ts), never relayed.
    assert.equal(await code('secagg', { step: 'keys' }), 'not-joined');
  } finally {
    socket.disconnect();
  }
});

test('a connection that does not join within joinTimeoutMs is closed', async () => {
  const quick = await startEdge({
    redis: redis.url,
    secret: SECRET,
    id: 'quick-edge',
    joinTimeoutMs: 300,
  });
  try {
    const socket = io(quick.url, {
      transports: ['websocket'],
      parser: createSocketParser(),
      auth: { protocolVersion: PROTOCOL_VERSION },
      reconnection: false,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    await Promise.race([
      new Promise<void>((resolve) => socket.once('disconnect', () => resolve())),
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('the unjoined connection stayed open')), 5000),
      ),
    ]);
  } finally {
    await quick.close();
  }
});

/** The master's side of one edge, by hand: what the edge sends up, and messages down to it. */
async function handMaster(edgeId: string) {
  const keys = edgeKeys('default');
  const downConnection = new Redis(redis.url);
  const down = new SignedWriter(downConnection, SECRET, 'down');
  const partials: PartialMessage[] = [];
  const events: { link: string; event: string; req: number; norm?: number }[] = [];
  const gone: string[] = [];
  const upReader = new SignedReader(
    new Redis(redis.url),
    keys.up,
    SECRET,
    'up',
    (entry) => {
      if (entry.edge !== edgeId) return;
      const message = entry.message as { t?: string; link?: string };
      if (message?.t === 'partial') partials.push(message as PartialMessage);
      if (message?.t === 'event') events.push(message as (typeof events)[number]);
      if (message?.t === 'gone') gone.push(message.link!);
    },
    () => undefined,
  );
  await upReader.ready;
  const toEdge = (message: unknown) => down.send(keys.down(edgeId), edgeId, message).written;
  return {
    partials,
    events,
    gone,
    toEdge,
    /** Waits for the edge to forward `event` and answers it with `response`. */
    async answer(event: string, response: unknown) {
      await until(() => events.some((e) => e.event === event));
      const forwarded = events.find((e) => e.event === event)!;
      await toEdge({ t: 'ack', link: forwarded.link, req: forwarded.req, response });
      return forwarded;
    },
    /** A joined client of the edge at `url`. */
    async joined(to: RunningEdge, clientId: string) {
      const socket = await connect(to);
      const join = socket
        .timeout(5000)
        .emitWithAck('join', { platform: 'node', backend: 'wasm', numSamples: 2 });
      await this.answer('join', { ok: true, clientId });
      await join;
      return socket;
    },
    async stop() {
      await upReader.stop();
      downConnection.disconnect();
    },
  };
}

test("the edge holds updates to the master's norm bound, and sends each claim's norm", async () => {
  const bounded = await startEdge({ redis: redis.url, secret: SECRET, id: 'bounded-edge' });
  const master = await handMaster('bounded-edge');
  try {
    await master.toEdge({
      t: 'round:open',
      roundId: 3,
      numParams: 2,
      updateBound: { ...DEFAULT_UPDATE_BOUND, onExcess: 'refuse' },
      // Far below the config's maxNorm (100): the edge must use the master's bound.
      normBound: 2,
    });
    const socket = await master.joined(bounded, 'bounded-client');
    const over = (await socket.timeout(5000).emitWithAck('update', deltaUpdate([1, 2], 2, 3))) as {
      error?: { code?: string; message?: string };
    };
    assert.equal(over.error?.code, 'rejected-weights');
    assert.match(over.error?.message ?? '', /norm 2\.23607 exceeds the round's bound 2/);
    assert.equal(master.events.filter((e) => e.event === 'update').length, 0);
    socket.emit('update', deltaUpdate([1, 1], 2, 3));
    await until(() => master.events.some((e) => e.event === 'update'));
    assert.equal(master.events.find((e) => e.event === 'update')!.norm, Math.sqrt(2));
    socket.disconnect();
  } finally {
    await bounded.close();
    await master.stop();
  }
});

test('a claim the master grants after its client disconnected is still folded into the partial', async () => {
  // Its own edge: the file's edge answers for the master after 300 ms, too soon under load.
  const late = await startEdge({ redis: redis.url, secret: SECRET, id: 'late-edge' });
  const master = await handMaster('late-edge');
  try {
    await master.toEdge({
      t: 'round:open',
      roundId: 9,
      numParams: 2,
      updateBound: DEFAULT_UPDATE_BOUND,
      normBound: DEFAULT_UPDATE_BOUND.maxNorm,
    });
    const socket = await master.joined(late, 'late-client');
    socket.emit('update', deltaUpdate([1, 2], 2, 9));
    await until(() => master.events.some((e) => e.event === 'update'));
    // The client goes before the master's grant reaches the edge.
    socket.disconnect();
    await until(() => master.gone.length > 0);
    await master.answer('update', { ok: true, roundId: 9 });
    await master.toEdge({ t: 'round:close', roundId: 9 });
    await until(() => master.partials.some((p) => p.roundId === 9));
    const partial = master.partials.find((p) => p.roundId === 9)!;
    // Granted at the master, so folded here: 2 samples × [1, 2].
    assert.deepEqual(partial.clients, ['late-client']);
    assert.equal(partial.weight, 2);
    assert.deepEqual([...partial.sum!], [2, 4]);
  } finally {
    await late.close();
    await master.stop();
  }
});

test("a buffered round's claim waits past answerTimeoutMs for its grant, and is folded", async () => {
  // Under fedbuff the master may hold a claim for the next buffer, past a whole aggregation.
  const patient = await startEdge({
    redis: redis.url,
    secret: SECRET,
    id: 'buffered-edge',
    answerTimeoutMs: 200,
  });
  const master = await handMaster('buffered-edge');
  try {
    await master.toEdge({
      t: 'round:open',
      roundId: 4,
      numParams: 2,
      updateBound: DEFAULT_UPDATE_BOUND,
      normBound: DEFAULT_UPDATE_BOUND.maxNorm,
      buffered: true,
    });
    const socket = await master.joined(patient, 'waiting-client');
    const answer = socket.timeout(10_000).emitWithAck('update', deltaUpdate([1, 2], 2, 4));
    await until(() => master.events.some((e) => e.event === 'update'));
    await new Promise((resolve) => setTimeout(resolve, 600));
    const forwarded = master.events.find((e) => e.event === 'update')!;
    await master.toEdge({
      t: 'ack',
      link: forwarded.link,
      req: forwarded.req,
      response: { ok: true, roundId: 4 },
      grant: { epoch: 4, weight: 0.5, id: 'g1' },
    });
    assert.equal(((await answer) as { ok?: boolean }).ok, true, 'the client hears the grant');
    await master.toEdge({ t: 'round:close', roundId: 4 });
    await until(() => master.partials.some((p) => p.roundId === 4));
    const partial = master.partials.find((p) => p.roundId === 4)!;
    assert.deepEqual(partial.clients, ['g1']);
    assert.equal(partial.weight, 0.5);
    assert.deepEqual([...partial.sum!], [0.5, 1]);
    socket.disconnect();
  } finally {
    await patient.close();
    await master.stop();
  }
});
