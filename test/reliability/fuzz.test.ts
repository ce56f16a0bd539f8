/**
 * A running coordinator under ≥ 10,000 random and mutated messages from
 * hostile connections, while two honest in-process clients train through
 * every round.
 *
 * Design (what keeps the honest-only comparison exact): the same seeded run
 * (teacher, student, 2 honest clients on fixed MNIST shards, 3 rounds, FedAvg)
 * is done twice in one data directory, once alone and once under attack, and
 * the exported students (`student/weights.bin`) must be byte-identical.
 * - Round 1 starts with the two honest clients only (minClients 2; every
 *   adversary that could join waits for round 1 to start), and `fraction` 1
 *   samples every connected client, so the honest clients are in every round
 *   of both runs with the same round ids and the same global weights.
 * - The adversaries that speak socket.io never join: the handshake is refused,
 *   or they send invalid joins (each checked against the schema before it is
 *   sent), updates without joining, unknown events, prototype keys,
 *   oversize and over-long payloads.
 * - One adversary joins legitimately after round 1 started, so it is sampled
 *   in rounds 2 and 3 (unless a round starts while it reconnects after a
 *   cut-off), and sends only updates with at least one defect for its
 *   own round (wrong types, missing and extra fields, NaN/±Inf, wrong lengths,
 *   lying length and precision fields, other rounds, other model versions,
 *   predictions nobody asked for): none can be accepted, so the aggregate is the
 *   honest clients' alone. It is cut off after maxRefusals + 1 of them and
 *   stays away until every round it was sampled in has closed; with
 *   dropGraceMs 0 such a round closes as soon as both honest updates are in
 *   (quorum 0.5: 2 of 3 sampled suffice), as the honest-only run's rounds do
 *   (2 of 2). No round waits for its deadline, which is long: nothing here
 *   depends on how fast the honest clients train. Two-addend
 *   FedAvg sums are order-independent, so arrival order does not matter.
 * - Duplicates: after each accepted update the honest clients send it again
 *   (and once with numSamples ×1000); those are refused ('duplicate', or
 *   'too-late' once the round has closed) and never counted twice.
 * - Raw engine.io WebSocket frames (random bytes, truncated and bit-flipped
 *   MessagePack, text frames, engine.io garbage, BINARY_* and reserved
 *   packets, forbidden keys, nesting/array/map bounds, frames over
 *   maxMessageBytes = 2 MiB) go over bare `ws` connections; the parser must
 *   close each of those connections.
 * Accounting: every update that reaches the coordinator's handler is tallied
 * here with the code it must get (acked codes where the round state decides,
 * 'not-joined' / 'invalid-payload' where it cannot matter), and SQLite must
 * hold exactly those refusals per client and reason: a row each in `updates`
 * for joined clients, per-reason counters in `unjoined_refusals` for
 * connections that never joined. Each
 * connection sends exactly maxRefusals + 1 refused messages, the last one
 * without an ack, and must then be cut off ('io server disconnect'); the
 * coordinator's client:cut-off events must match.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { prepareCoordinator } from '../../cli/coordinatorSetup.js';
import type { CoordinatorEvent, RunResult } from '../../server/coordinator.js';
import type { CoordinatorConfigInput } from '../../server/config.js';
import { FedClient } from '../../client/fedClient.js';
import { SocketTransport } from '../../client/socketTransport.js';
import type { FedTransport, TransportHandlers } from '../../client/transport.js';
import { createRng, type Rng } from '../../shared/data/index.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/index.js';
import type {
  ArtifactRef,
  JoinRequest,
  JoinResponse,
  RoundStart,
  SecAggUp,
  UpdateMessage,
  UpdateResponse,
} from '../../shared/protocol/index.js';
import { demoSplit } from '../../node/demo/demoSplit.js';
import {
  VALID_AUTH,
  connectSocket,
  disconnected,
  garbageFrame,
  hostileUpdate,
  invalidJoin,
  openRawConnection,
  unknownEventName,
  wellFormedUpdate,
  type RawSocket,
  type RoundView,
} from './adversaries.js';
import { smallTraining } from '../support/smallRun.js';

const TOKEN = 'fuzz-secret';
const ROUNDS = 3;
const MAX_MESSAGE_BYTES = 2 * 1024 * 1024;
const MAX_REFUSALS = 20;
const TARGET_MESSAGES = 10_000;
const SEED = 20_260;
const UNJOINED = '(unjoined)';

const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-fuzz-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

function config(): CoordinatorConfigInput {
  return {
    port: 0,
    dataDir,
    rounds: ROUNDS,
    minClients: 2,
    fraction: 1,
    waitForClientsMs: 60_000,
    // A safety net only: every round closes once its honest updates are in (see the top).
    roundTimeoutMs: 180_000,
    dropGraceMs: 0,
    quorum: 0.5,
    seed: 5,
    tokens: [TOKEN],
    maxMessageBytes: MAX_MESSAGE_BYTES,
    maxRefusals: MAX_REFUSALS,
    refusalWindowMs: 60_000,
    // Every adversary here shares 127.0.0.1 and the shared token, so a cut-off cool-down would
    // refuse them all at the handshake after the first cut-off and the 10,000 messages would
    // never reach the handlers under test; the cool-down has its own test (penalties.test.ts).
    cutOffCooldownMs: 0,
    // The unjoined adversaries must be cut off by their refusals, as counted here, never by the
    // join timeout (unjoinedSockets.test.ts tests that), however slow the machine.
    joinTimeoutMs: 3_600_000,
    training: smallTraining({ updatePrecision: 'float32' }),
  };
}

/** What the adversaries sent and what must have come of it. */
class Ledger {
  tried = 0;
  /** Refused updates that reached the coordinator's handler, by `who|code`. */
  readonly updates = new Map<string, number>();
  joinRefusals = 0;
  handshakeRefusals = 0;
  ignoredEvents = 0;
  /** Messages that must make the parser drop the connection, and the drops seen. */
  parserMessages = 0;
  parserConnections = 0;
  parserCloses = 0;
  cutOffs = 0;
  duplicates = 0;
  adversaryJoins = 0;
  readonly rawKinds = new Map<string, number>();

  update(who: string, code: string): void {
    const key = `${who}|${code}`;
    this.updates.set(key, (this.updates.get(key) ?? 0) + 1);
  }

  get refusedUpdates(): number {
    let sum = 0;
    for (const count of this.updates.values()) sum += count;
    return sum;
  }
}

/** The honest transport plus a resend of every accepted update (a duplicate), acked. */
class DuplicatingTransport implements FedTransport {
  constructor(
    private readonly inner: SocketTransport,
    private readonly onRefusal: (code: string) => void,
  ) {}
  get connected(): boolean {
    return this.inner.connected;
  }
  connect(handlers: TransportHandlers): Promise<void> {
    return this.inner.connect(handlers);
  }
  join(request: JoinRequest): Promise<JoinResponse> {
    return this.inner.join(request);
  }
  fetchArtifact(ref: ArtifactRef): Promise<Uint8Array> {
    return this.inner.fetchArtifact(ref);
  }
  sendSecAgg(message: SecAggUp): Promise<UpdateResponse> {
    return this.inner.sendSecAgg(message);
  }
  close(): void {
    this.inner.close();
  }
  async sendUpdate(update: UpdateMessage): Promise<UpdateResponse> {
    const response = await this.inner.sendUpdate(update);
    if (response.ok) {
      for (const again of [update, { ...update, numSamples: update.numSamples * 1000 }]) {
        const second = await this.inner.sendUpdate(again);
        assert.ok(!second.ok, 'a duplicate update was accepted');
        this.onRefusal(second.error.code);
      }
    }
    return response;
  }
}

interface FederationOutcome {
  result: RunResult;
  weightsBin: Buffer;
  events: CoordinatorEvent[];
  honestIds: string[];
  dbPath: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)]!;
}

async function federation(
  attack?: (url: string, events: CoordinatorEvent[], runOver: () => boolean) => Promise<void>,
  ledger?: Ledger,
): Promise<FederationOutcome> {
  const events: CoordinatorEvent[] = [];
  const prepared = await prepareCoordinator({
    config: config(),
    backend: 'cpu',
    teacherSpec: 'mlp:32',
    teacherEpochs: 1,
    student: 'mlp:16',
    demoClients: 2,
    log: () => undefined,
    onEvent: (event) => events.push(event),
  });
  const { running } = prepared;
  try {
    const shards = demoSplit({ clients: 2 }).shards;
    const clients = shards.map((data, i) => {
      const socket = new SocketTransport({ url: running.url, token: TOKEN });
      return new FedClient({
        transport: ledger
          ? new DuplicatingTransport(socket, (code) => {
              ledger.tried += 1;
              ledger.duplicates += 1;
              ledger.update(`honest${i}`, code);
            })
          : socket,
        data,
        platform: 'node',
        backend: 'cpu',
        name: `honest-${i}`,
      });
    });
    await Promise.all(clients.map((c) => c.start()));
    let over = false;
    const run = running.coordinator.run().finally(() => (over = true));
    const attacking = attack?.(running.url, events, () => over);
    const result = await run;
    await attacking;
    const reasons = await Promise.all(clients.map((c) => c.done));
    for (const c of clients) c.stop();
    assert.deepEqual(reasons, ['completed', 'completed'], 'the honest clients finished the run');
    return {
      result,
      weightsBin: readFileSync(join(running.checkpoints.finalDir, 'weights.bin')),
      events,
      honestIds: clients.map((c) => c.id!),
      dbPath: running.store.path,
    };
  } finally {
    await running.close();
    prepared.teacher.dispose();
  }
}

/** Adversaries that never join: refused handshakes, invalid joins, unjoined updates, unknown events. */
async function unjoinedAdversary(
  url: string,
  rng: Rng,
  ledger: Ledger,
  view: () => RoundView,
  enough: () => boolean,
): Promise<void> {
  while (!enough()) {
    if (rng.int(8) === 0) {
      const auth = pick(rng, [
        { protocolVersion: 99, token: TOKEN },
        { protocolVersion: PROTOCOL_VERSION, token: 'wrong' },
        { protocolVersion: PROTOCOL_VERSION },
        { protocolVersion: String(PROTOCOL_VERSION), token: TOKEN },
        { token: TOKEN },
        { protocolVersion: PROTOCOL_VERSION, token: TOKEN.repeat(60) },
        { protocolVersion: PROTOCOL_VERSION + 0.5, token: TOKEN },
      ]);
      const { refused } = await connectSocket(url, auth);
      ledger.tried += 1;
      assert.ok(refused, `handshake ${JSON.stringify(auth)} was accepted`);
      ledger.handshakeRefusals += 1;
      continue;
    }
    const { socket, refused } = await connectSocket(url, VALID_AUTH(TOKEN));
    assert.ok(!refused);
    if (rng.int(12) === 0) {
      await parserLevel(socket, rng, ledger, view());
      continue;
    }
    const acks: Promise<void>[] = [];
    for (let refusals = 0; refusals <= MAX_REFUSALS;) {
      const last = refusals === MAX_REFUSALS;
      const draw = rng.next();
      ledger.tried += 1;
      if (!last && draw < 0.1) {
        socket.emit(unknownEventName(rng), { roundId: 1 });
        ledger.ignoredEvents += 1;
        continue;
      }
      const withAck = !last && rng.next() < 0.3;
      if (draw < 0.4) {
        const payload = invalidJoin(rng);
        ledger.joinRefusals += 1;
        if (withAck)
          acks.push(
            (socket.timeout(10_000).emitWithAck('join', payload) as Promise<JoinResponse>).then(
              (response) => {
                assert.ok(!response.ok && response.error.code === 'invalid-payload');
              },
            ),
          );
        else socket.emit('join', payload);
      } else {
        const { payload } = hostileUpdate(rng, view());
        ledger.update(UNJOINED, 'not-joined');
        if (withAck)
          acks.push(
            (socket.timeout(10_000).emitWithAck('update', payload) as Promise<UpdateResponse>).then(
              (response) => {
                assert.ok(!response.ok && response.error.code === 'not-joined');
              },
            ),
          );
        else socket.emit('update', payload);
      }
      refusals += 1;
    }
    const reason = await disconnected(socket, 10_000);
    await Promise.all(acks);
    assert.equal(reason, 'io server disconnect', 'cut off after maxRefusals + 1 refusals');
    ledger.cutOffs += 1;
  }
}

/** One message the parser must refuse, sent by a connected socket.io client: the connection drops. */
async function parserLevel(
  socket: RawSocket,
  rng: Rng,
  ledger: Ledger,
  view: RoundView,
): Promise<void> {
  const key = pick(rng, ['__proto__', 'constructor', 'prototype']);
  const update = wellFormedUpdate(view);
  const kind = rng.int(4);
  if (kind === 0) socket.emit('update', { ...update, [key]: { isAdmin: true } });
  else if (kind === 1)
    socket.emit('join', { platform: 'node', backend: 'cpu', numSamples: 1, [key]: 1 });
  else if (kind === 2)
    // Over maxMessageBytes (2 MiB): engine.io refuses the frame before any decoding.
    socket.emit('update', {
      ...update,
      delta: { precision: 'float32', length: 600_000, data: new Float32Array(600_000) },
    });
  else socket.emit('update', { ...update, segments: new Array<number>((1 << 20) + 1).fill(0) });
  ledger.tried += 1;
  ledger.parserMessages += 1;
  ledger.parserConnections += 1;
  const reason = await disconnected(socket, 10_000);
  assert.match(reason, /^transport (close|error)$/, `parser-level garbage: ${reason}`);
  ledger.parserCloses += 1;
}

/** Bare WebSocket connections that send garbage frames; each must be closed by the coordinator. */
async function rawAdversary(
  url: string,
  rng: Rng,
  ledger: Ledger,
  view: () => RoundView,
  enough: () => boolean,
): Promise<void> {
  while (!enough()) {
    const connection = await openRawConnection(
      url,
      rng.next() < 0.5 ? VALID_AUTH(TOKEN) : undefined,
    );
    const frames = 1 + rng.int(3);
    for (let i = 0; i < frames; i++) {
      // Every 20th connection sends a big frame: ~1 MB of array elements, or 2 MiB + 1 byte.
      const large = ledger.parserConnections % 20 === 19 && i === 0;
      const garbage = garbageFrame(rng, view(), MAX_MESSAGE_BYTES, large);
      connection.ws.send(garbage.frame);
      ledger.rawKinds.set(garbage.kind, (ledger.rawKinds.get(garbage.kind) ?? 0) + 1);
      ledger.tried += 1;
      ledger.parserMessages += 1;
    }
    ledger.parserConnections += 1;
    const code = await Promise.race([connection.closed, sleep(10_000).then(() => -1)]);
    assert.notEqual(code, -1, 'a raw connection that sent garbage was left open');
    ledger.parserCloses += 1;
  }
}

/** Joins legitimately (after round 1 started), then sends only defective updates for its own rounds. */
async function joinedAdversary(
  url: string,
  rng: Rng,
  ledger: Ledger,
  adversaryIds: Set<string>,
  runOver: () => boolean,
  roundClosed: (roundId: number) => boolean,
): Promise<void> {
  let clientId: string | undefined;
  let rejoinSecret: string | undefined;
  let view: RoundView = { roundId: 1, modelVersion: 0, numParams: 1 };
  /** Rounds it was sampled in: after a cut-off it stays away until they have closed. */
  const sampledIn = new Set<number>();
  while (!runOver()) {
    for (const roundId of sampledIn) {
      while (!roundClosed(roundId) && !runOver()) await sleep(20);
      sampledIn.delete(roundId);
    }
    if (runOver()) return;
    const { socket, refused } = await connectSocket(url, VALID_AUTH(TOKEN));
    assert.ok(!refused);
    socket.on('round:start', (round: RoundStart) => {
      sampledIn.add(round.roundId);
      view = {
        roundId: round.roundId,
        modelVersion: round.modelVersion,
        numParams: view.numParams,
      };
    });
    const joined = (await socket.timeout(10_000).emitWithAck('join', {
      platform: 'node',
      backend: 'cpu',
      numSamples: 500,
      name: 'joined-adversary',
      ...(clientId && rejoinSecret ? { clientId, rejoinSecret } : {}),
    } satisfies JoinRequest)) as JoinResponse;
    ledger.tried += 1;
    if (!joined.ok) {
      assert.equal(joined.error.code, 'run-ended');
      ledger.joinRefusals += 1;
      socket.close();
      return;
    }
    clientId = joined.clientId;
    rejoinSecret = joined.rejoinSecret;
    ledger.adversaryJoins += 1;
    adversaryIds.add(clientId);
    view = { ...view, numParams: joined.model.numParams };
    if (joined.round) {
      sampledIn.add(joined.round.roundId);
      view = { ...view, roundId: joined.round.roundId, modelVersion: joined.round.modelVersion };
    }
    for (let refusals = 0; refusals <= MAX_REFUSALS; refusals++) {
      let hostile = hostileUpdate(rng, view);
      ledger.tried += 1;
      if (refusals === MAX_REFUSALS || rng.next() < 0.15) {
        // No ack: only what the schema refuses, whose code cannot depend on the round's state.
        while (!hostile.schemaInvalid) hostile = hostileUpdate(rng, view);
        socket.emit('update', hostile.payload);
        ledger.update('adversary', 'invalid-payload');
        continue;
      }
      const response = (await socket
        .timeout(10_000)
        .emitWithAck('update', hostile.payload)) as UpdateResponse;
      assert.ok(!response.ok, `a ${hostile.kind} update was accepted`);
      if (hostile.schemaInvalid) assert.equal(response.error.code, 'invalid-payload', hostile.kind);
      ledger.update('adversary', response.error.code);
    }
    const reason = await disconnected(socket, 10_000);
    assert.equal(reason, 'io server disconnect');
    ledger.cutOffs += 1;
  }
}

/**
 * Refusals as SQLite holds them: a row per refused update of a joined client, and per-reason
 * counters for connections that never joined (which must have no rows of their own).
 */
function countRejections(dbPath: string, runId: string, who: (clientId: string) => string) {
  const db = new Database(dbPath, { readonly: true });
  const rows = db
    .prepare('SELECT client_id, status, reason FROM updates WHERE run_id = ?')
    .all(runId) as { client_id: string; status: string; reason: string | null }[];
  const unjoined = db
    .prepare('SELECT code, count FROM unjoined_refusals WHERE run_id = ?')
    .all(runId) as { code: string; count: number }[];
  db.close();
  const rejected = new Map<string, number>();
  for (const { code, count } of unjoined) {
    assert.ok(count > 0, `an empty counter for ${code}`);
    rejected.set(`${UNJOINED}|${code}`, count);
  }
  const accepted: string[] = [];
  for (const row of rows) {
    assert.notEqual(row.client_id, UNJOINED, 'an unjoined refusal was written as a row of its own');
    if (row.status === 'accepted') {
      accepted.push(row.client_id);
      continue;
    }
    assert.ok(
      row.reason && /^[a-z-]+: ./.test(row.reason),
      `refusal recorded without a reason: ${row.reason}`,
    );
    const key = `${who(row.client_id)}|${row.reason.split(':')[0]!}`;
    rejected.set(key, (rejected.get(key) ?? 0) + 1);
  }
  return { rejected, accepted };
}

const sorted = (map: Map<string, number>) =>
  [...map.entries()].sort(([a], [b]) => a.localeCompare(b));

test(
  `${TARGET_MESSAGES}+ hostile messages change nothing the honest clients produce`,
  { timeout: 240_000 },
  async (t) => {
    const started = Date.now();
    const alone = await federation();
    const aloneMs = Date.now() - started;

    const ledger = new Ledger();
    const adversaryIds = new Set<string>();
    let healthy = 0;
    let unhealthy = 0;
    const attack = async (url: string, events: CoordinatorEvent[], runOver: () => boolean) => {
      const enough = () => runOver() && ledger.tried >= TARGET_MESSAGES;
      let view: RoundView = { roundId: 1, modelVersion: 0, numParams: 12_730 };
      const watch = setInterval(() => {
        const last = events.findLast((e) => e.type === 'round:started');
        if (last?.type === 'round:started')
          view = { ...view, roundId: last.roundId, modelVersion: last.roundId - 1 };
      }, 50);
      const health = (async () => {
        while (!enough()) {
          const response = await fetch(`${url}/healthz`).catch(() => undefined);
          if (response?.ok) healthy += 1;
          else unhealthy += 1;
          await response?.body?.cancel();
          await sleep(200);
        }
      })();
      // The joined adversary joins only once round 1 (the honest clients') has started.
      const joined = (async () => {
        while (!events.some((e) => e.type === 'round:started')) await sleep(20);
        await joinedAdversary(url, createRng(SEED + 1), ledger, adversaryIds, runOver, (id) =>
          events.some((e) => e.type === 'round:closed' && e.record.round === id),
        );
      })();
      await Promise.all([
        unjoinedAdversary(url, createRng(SEED + 2), ledger, () => view, enough),
        unjoinedAdversary(url, createRng(SEED + 3), ledger, () => view, enough),
        rawAdversary(url, createRng(SEED + 4), ledger, () => view, enough),
        rawAdversary(url, createRng(SEED + 5), ledger, () => view, enough),
        joined,
        health,
      ]);
      clearInterval(watch);
      const final = await fetch(`${url}/healthz`);
      assert.equal(final.status, 200, '/healthz answers after the attack');
      healthy += 1;
    };
    const attacked = await federation(attack, ledger);
    const attackedMs = Date.now() - started - aloneMs;

    // The coordinator still served: every round aggregated the two honest updates, as alone.
    for (const outcome of [alone, attacked]) {
      assert.equal(outcome.result.status, 'completed');
      assert.deepEqual(
        outcome.result.rounds.map((r) => [r.round, r.status, r.participants]),
        Array.from({ length: ROUNDS }, (_, i) => [i + 1, 'aggregated', 2]),
      );
    }
    assert.deepEqual(
      attacked.result.rounds.map((r) => r.studentAccuracy),
      alone.result.rounds.map((r) => r.studentAccuracy),
    );
    assert.ok(
      attacked.weightsBin.equals(alone.weightsBin),
      'the exported student is bit-identical to the honest-only run',
    );
    assert.ok(adversaryIds.size >= 1, 'the joined adversary joined');
    // It reconnects after every cut-off, so a round can start in the instant it is away:
    // require it in at least one of rounds 2 and 3, not both.
    assert.ok(
      attacked.result.rounds.slice(1).some((r) => r.sampled === 3),
      'the joined adversary was sampled in round 2 or 3',
    );
    assert.equal(unhealthy, 0, '/healthz always answered');
    assert.ok(ledger.tried >= TARGET_MESSAGES, `only ${ledger.tried} messages were sent`);

    // Every refused update is in SQLite with its reason (unjoined ones as counters), exactly as tallied here.
    const who = (id: string) =>
      id === UNJOINED
        ? UNJOINED
        : adversaryIds.has(id)
          ? 'adversary'
          : `honest${attacked.honestIds.indexOf(id)}`;
    const { rejected, accepted } = countRejections(attacked.dbPath, attacked.result.runId, who);
    assert.deepEqual(sorted(rejected), sorted(ledger.updates));
    assert.equal(accepted.length, 2 * ROUNDS);
    assert.ok(
      accepted.every((id) => attacked.honestIds.includes(id)),
      'only honest updates accepted',
    );
    const eventCodes = new Map<string, number>();
    for (const e of attacked.events)
      if (e.type === 'update:rejected') {
        const key = `${who(e.clientId)}|${e.code}`;
        eventCodes.set(key, (eventCodes.get(key) ?? 0) + 1);
      }
    assert.deepEqual(sorted(eventCodes), sorted(ledger.updates));
    assert.ok(
      !sorted(ledger.updates).some(([key]) => key.endsWith('|internal')),
      'no handler threw',
    );
    const cutOffEvents = attacked.events.filter((e) => e.type === 'client:cut-off').length;
    assert.equal(cutOffEvents, ledger.cutOffs, 'every cut-off seen by an adversary was reported');
    assert.equal(ledger.parserCloses, ledger.parserConnections);

    const refused =
      ledger.refusedUpdates +
      ledger.joinRefusals +
      ledger.handshakeRefusals +
      ledger.parserMessages;
    assert.equal(
      refused + ledger.ignoredEvents + ledger.adversaryJoins,
      ledger.tried,
      'every message tried was refused, ignored (unknown events) or an accepted join of the joined adversary',
    );
    t.diagnostic(
      `messages tried ${ledger.tried}: refused ${refused} (updates ${ledger.refusedUpdates} recorded in SQLite, ` +
        `joins ${ledger.joinRefusals}, handshakes ${ledger.handshakeRefusals}, ` +
        `parser-level ${ledger.parserMessages} on ${ledger.parserCloses} dropped connections), ` +
        `unknown events ignored ${ledger.ignoredEvents}, joins of the joined adversary accepted ${ledger.adversaryJoins}, ` +
        `hostile updates accepted 0; honest duplicates refused ${ledger.duplicates}; ` +
        `cut-offs ${ledger.cutOffs}; /healthz answered ${healthy}×; crashes 0`,
    );
    t.diagnostic(
      `refusals by client and reason: ${JSON.stringify(Object.fromEntries(sorted(ledger.updates)))}`,
    );
    t.diagnostic(`raw frame kinds: ${JSON.stringify(Object.fromEntries(ledger.rawKinds))}`);
    t.diagnostic(
      `honest-only run ${(aloneMs / 1000).toFixed(1)} s, attacked run ${(attackedMs / 1000).toFixed(1)} s`,
    );
  },
);
