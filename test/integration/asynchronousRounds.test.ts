/**
 * fedbuff over real sockets: five in-process FedClients on 127.0.0.1, two of
 * them slow (their first update is held in the transport). The fast three
 * drive aggregations without them; the slow ones' updates arrive stale and are
 * weighted by s(τ) = 1/√(1+τ) — or refused when τ exceeds maxStaleness — and
 * every aggregate equals the hand-computed w + η/n·Σ s(τᵢ)·Δᵢ over the deltas
 * the clients actually sent.
 *
 * Order is made certain with a gate, not with timing: from the close of the
 * round before a slow client's until that client's update is answered, the
 * other clients hold theirs. Each client has at most one update outstanding,
 * and the one whose update closed the round has none, so at most three (two
 * fast, and the first slow client's next one) are already on the wire or
 * waiting for the buffer: with K = 4 the slow update lands in the round the
 * test names. The fast clients fill rounds 1 and 2 alone, some of them twice.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FedClient } from '../../client/fedClient.js';
import { SocketTransport } from '../../client/socketTransport.js';
import type { FedTransport, TransportHandlers } from '../../client/transport.js';
import { demoSplit } from '../../node/demo/demoSplit.js';
import type { CoordinatorEvent } from '../../server/coordinator.js';
import { decodeWeights } from '../../shared/codec/index.js';
import { getFlatWeights } from '../../shared/models/index.js';
import type { UpdateMessage, UpdateResponse } from '../../shared/protocol/index.js';
import { nodeClient, startSmallCoordinator } from '../support/smallCoordinator.js';
import { smallTraining } from '../support/smallRun.js';

const K = 4;
const ETA = 0.8;
const MAX_STALENESS = 2;
const ROUNDS = 5;

interface Sent {
  client: number;
  update: UpdateMessage;
  response: UpdateResponse;
}

/**
 * A socket transport whose updates wait for `hold` first, and are logged with their answers
 * (`answered` is told of each).
 */
class HeldTransport implements FedTransport {
  private readonly inner: FedTransport;
  constructor(
    url: string,
    private readonly client: number,
    private readonly hold: (update: UpdateMessage) => Promise<void>,
    private readonly log: Sent[],
    private readonly answered: (sent: Sent) => void,
  ) {
    this.inner = new SocketTransport({ url });
  }
  connect(handlers: TransportHandlers) {
    return this.inner.connect(handlers);
  }
  join(request: Parameters<FedTransport['join']>[0]) {
    return this.inner.join(request);
  }
  async sendUpdate(update: UpdateMessage): Promise<UpdateResponse> {
    await this.hold(update);
    const response = await this.inner.sendUpdate(update);
    const sent = { client: this.client, update, response };
    this.log.push(sent);
    this.answered(sent);
    return response;
  }
  sendSecAgg(message: Parameters<FedTransport['sendSecAgg']>[0]) {
    return this.inner.sendSecAgg(message);
  }
  fetchArtifact(ref: Parameters<FedTransport['fetchArtifact']>[0]) {
    return this.inner.fetchArtifact(ref);
  }
  get connected() {
    return this.inner.connected;
  }
  close() {
    this.inner.close();
  }
}

/** A promise with its resolve function. */
function latch(): { promise: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

test(
  'fedbuff: slow clients hold no aggregation; stale updates are weighted 1/√(1+τ), too-stale ones refused',
  { timeout: 300_000 },
  async () => {
    const coordinator = await startSmallCoordinator('fedbuff', {
      strategy: 'fedbuff',
      fedbuff: { bufferSize: K, maxStaleness: MAX_STALENESS, serverLearningRate: ETA },
      rounds: ROUNDS,
      minClients: 5,
      waitForClientsMs: 60_000,
      roundTimeoutMs: 240_000,
      training: smallTraining({ updatePrecision: 'float32' }),
      // Wide enough that no delta is clipped: the sum below is of the deltas as sent.
      updateBound: { maxNorm: 1000, medianMultiple: 1000 },
    });
    const running = coordinator.prepared.running;
    const model = running.coordinator.studentModel;
    // Global weights by model version: version 0 before round 1, version k after round k.
    const globals = new Map<number, Float32Array>();
    // Slow client 3 is released once round 3 is open, slow client 4 once round 4 is.
    const release = new Map([
      [3, latch()],
      [4, latch()],
    ]);
    const slowRound = new Map([
      [3, 3],
      [4, 4],
    ]);
    let gate: Promise<void> = Promise.resolve();
    let openGate: () => void = () => undefined;
    running.coordinator.subscribe((event: CoordinatorEvent) => {
      if (event.type === 'round:started') {
        if (event.roundId === 1) globals.set(0, getFlatWeights(model));
        for (const [client, round] of slowRound)
          if (round === event.roundId) release.get(client)!.open();
      }
      if (event.type === 'round:closed' && event.record.status === 'aggregated') {
        globals.set(event.record.modelVersion, getFlatWeights(model));
        // Before a slow client's round opens the fast ones hold their updates (the gate).
        if ([...slowRound.values()].includes(event.record.round + 1)) {
          const next = latch();
          gate = next.promise;
          openGate = next.open;
        }
      }
    });
    const log: Sent[] = [];
    const heldOnce = new Set<number>();
    const clients: FedClient[] = demoSplit({ clients: 5 }).shards.map((data, i) =>
      nodeClient(coordinator.url, data, {
        seed: i,
        transport: new HeldTransport(
          coordinator.url,
          i,
          async () => {
            const slow = release.get(i);
            if (slow && !heldOnce.has(i)) {
              heldOnce.add(i);
              await slow.promise;
              return;
            }
            await gate;
          },
          log,
          // The fast clients go on once the slow update has its answer.
          (sent) => {
            if (
              release.has(sent.client) &&
              log.filter((s) => s.client === sent.client).length === 1
            )
              openGate();
          },
        ),
      }),
    );
    try {
      await Promise.all(clients.map((c) => c.start()));
      const result = await running.coordinator.run();
      assert.equal(result.status, 'completed');
      assert.deepEqual(
        result.rounds.map((r) => [r.status, r.participants]),
        Array.from({ length: ROUNDS }, () => ['aggregated', K]),
      );
      const ids = clients.map((c) => c.id!);
      const slowIds = new Set([ids[3], ids[4]]);
      // Rounds 1 and 2 closed while both slow clients still held their first update.
      const store = running.store;
      for (const round of [1, 2])
        for (const row of store.updates(running.coordinator.runId, round))
          if (row.status === 'accepted') assert.ok(!slowIds.has(row.clientId), `round ${round}`);

      // The first update of each slow client: trained from version 0.
      const first = (client: number) => log.find((s) => s.client === client)!;
      const a = first(3);
      assert.equal(a.update.modelVersion, 0);
      assert.deepEqual(a.response, { ok: true, roundId: 3 }, 'τ = 2 ≤ maxStaleness: accepted');
      const b = first(4);
      assert.equal(b.update.modelVersion, 0);
      assert.equal(b.response.ok, false);
      if (!b.response.ok) {
        assert.equal(b.response.error.code, 'stale-model');
        assert.match(b.response.error.message, /staleness 3 exceeds maxStaleness 2/);
      }
      const refusals = store
        .updates(running.coordinator.runId)
        .filter((r) => r.clientId === ids[4] && r.status === 'rejected');
      assert.match(refusals[0]!.reason!, /^stale-model: staleness 3 exceeds maxStaleness 2/);

      // Every aggregate, by hand: w_k = w_{k−1} + η/n·Σ s(τ)·Δ, τ = (k − 1) − the update's version.
      let weightedAway = 0;
      for (const record of result.rounds) {
        const k = record.round;
        const accepted = log.filter((s) => s.response.ok && s.response.roundId === k);
        assert.equal(accepted.length, K, `round ${k}'s buffer`);
        const before = globals.get(k - 1)!;
        const after = globals.get(k)!;
        const expected = Float64Array.from(before);
        const unweighted = Float64Array.from(before);
        const staleness = accepted.map((s) => k - 1 - s.update.modelVersion);
        accepted.forEach((s, j) => {
          const delta = decodeWeights(s.update.delta!, before.length);
          const weight = 1 / Math.sqrt(1 + staleness[j]!);
          for (let i = 0; i < delta.length; i++) {
            expected[i]! += (ETA / K) * weight * delta[i]!;
            unweighted[i]! += (ETA / K) * delta[i]!;
          }
        });
        let error = 0;
        for (let i = 0; i < after.length; i++)
          error = Math.max(error, Math.abs(after[i]! - expected[i]!));
        assert.ok(error < 1e-5, `round ${k}: the aggregate is off by ${error}`);
        for (let i = 0; i < after.length; i++)
          weightedAway = Math.max(weightedAway, Math.abs(expected[i]! - unweighted[i]!));
        // The rounds row carries the staleness of what it aggregated.
        assert.equal(record.maxStaleness, Math.max(...staleness));
        assert.ok(Math.abs(record.meanStaleness! - staleness.reduce((x, y) => x + y) / K) < 1e-12);
        assert.ok(record.bytesUpPerClient > 0 && record.bytesDownPerClient > 0);
        assert.ok(staleness.every((t) => t <= MAX_STALENESS));
      }
      // The weighting matters: without it the aggregates would differ well beyond the tolerance.
      assert.ok(weightedAway > 1e-4, `staleness weighting moved the aggregate by ${weightedAway}`);
      // Each accepted update's record names its staleness and weight.
      const slowRow = store
        .updates(running.coordinator.runId, 3)
        .find((r) => r.clientId === ids[3] && r.status === 'accepted')!;
      assert.match(slowRow.reason!, /^staleness 2, weight 0\.577350/);
    } finally {
      for (const client of clients) client.stop();
      await coordinator.close();
    }
  },
);
