/**
 * Secure aggregation over real sockets: a coordinator on 127.0.0.1 and four
 * clients, one of which disconnects right after sharing its keys. The round
 * still aggregates — the survivors' shares remove the vanished client's
 * masks — and the new global student is exactly (to fixed-point resolution)
 * the sample-weighted mean of the three survivors' trained weights. The next
 * round runs with the three that remain.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FedClient } from '../../client/fedClient.js';
import { SocketTransport } from '../../client/socketTransport.js';
import type { TransportHandlers } from '../../client/transport.js';
import type { Socket } from 'socket.io-client';
import { demoSplit } from '../../node/demo/demoSplit.js';
import { buildModel, getFlatWeights } from '../../shared/index.js';
import type { SecAggUp, UpdateMessage, UpdateResponse } from '../../shared/protocol/index.js';
import { nodeClient, startSmallCoordinator } from '../support/smallCoordinator.js';
import {
  checkpointWeights,
  distanceFromSurvivorsMean,
  trainedWeights,
} from '../support/secureRun.js';

const SCALE = 2 ** 20;
const PHASE_TIMEOUT_MS = 60_000;

/** A socket transport that hangs up for good once its client's shares are accepted. */
class DropsAfterSharing extends SocketTransport {
  override async sendSecAgg(message: SecAggUp): Promise<UpdateResponse> {
    const response = await super.sendSecAgg(message);
    if (message.step === 'shares' && response.ok) this.close();
    return response;
  }
}

/** Records what its client sends, so the test can check no delta ever left it. */
class RecordingTransport extends SocketTransport {
  readonly updates: UpdateMessage[] = [];
  override sendUpdate(update: UpdateMessage): Promise<UpdateResponse> {
    this.updates.push(update);
    return super.sendUpdate(update);
  }
}

test('a client vanishing after sharing its keys: the survivors aggregate exactly, over sockets', async (t) => {
  const coordinator = await startSmallCoordinator('secagg', {
    rounds: 2,
    minClients: 4,
    waitForClientsMs: 200,
    // Round 1 stops waiting for the vanished client a second after it hangs up.
    roundTimeoutMs: 120_000,
    dropGraceMs: 1_000,
    // Every step closes when its expected members have answered; none waits out this timeout.
    // It only bounds how slow this process may be: its four clients and the coordinator share
    // one event loop, so under load a step's crypto waits for the others' training.
    secureAggregation: { scale: SCALE, phaseTimeoutMs: PHASE_TIMEOUT_MS },
  });
  const { prepared, events, url } = coordinator;
  const shards = demoSplit({ clients: 4 }).shards;
  const transports = shards.map((_, i) =>
    i === 2 ? new DropsAfterSharing({ url }) : new RecordingTransport({ url }),
  );
  const trained = new Map<number, Float32Array>();
  const clients: FedClient[] = shards.map((data, i) =>
    nodeClient(url, data, {
      transport: transports[i]!,
      onEvent: (event) => {
        // The student right after round 1's training: start + this client's delta.
        if (event.type === 'round:trained' && event.roundId === 1)
          trained.set(i, trainedWeights(clients[i]!));
      },
    }),
  );
  try {
    await Promise.all(clients.map((c) => c.start()));
    const result = await prepared.running.coordinator.run();
    assert.equal(result.status, 'completed');
    const [first, second] = result.rounds;
    assert.equal(first!.status, 'aggregated');
    assert.equal(first!.sampled, 4);
    assert.equal(first!.participants, 3);
    assert.ok(first!.durationMs < 120_000, 'round 1 closed by the drop grace, not its deadline');
    assert.equal(second!.status, 'aggregated');
    assert.equal(second!.sampled, 3);
    const secure = events.filter((e) => e.type === 'round:secure');
    assert.deepEqual(
      secure.map((e) => ({ survivors: e.survivors, threshold: e.threshold, error: e.error })),
      [
        { survivors: 3, threshold: 3, error: undefined },
        { survivors: 3, threshold: 2, error: undefined },
      ],
    );

    // Every update that left a client was masked.
    for (const [i, transport] of transports.entries()) {
      if (!(transport instanceof RecordingTransport)) continue;
      assert.equal(transport.updates.length, 2, `client ${i}`);
      for (const update of transport.updates) {
        assert.ok(update.masked instanceof Uint32Array && update.delta === undefined);
      }
    }

    const start = getFlatWeights(buildModel(prepared.studentSpec, 1));
    const after = await checkpointWeights(prepared.running.checkpoints.checkpointDir, 1);
    const survivors = [0, 1, 3];
    const samples = shards.map((s) => s.count);
    const worst = distanceFromSurvivorsMean(start, after, trained, samples, survivors);
    const total = survivors.reduce((sum, i) => sum + samples[i]!, 0);
    const weightShare = total / samples.reduce((a, b) => a + b, 0);
    const bound = 3 / (2 * SCALE * weightShare) + 1e-6;
    t.diagnostic(`survivors' mean vs global: max difference ${worst}, bound ${bound}`);
    assert.ok(
      worst <= bound,
      `global differs from the survivors' mean by ${worst} (bound ${bound})`,
    );
  } finally {
    for (const client of clients) client.stop();
    await coordinator.close();
  }
});

/** A socket transport that reports when its client's shares were accepted. */
class ReportsSharing extends SocketTransport {
  constructor(
    options: ConstructorParameters<typeof SocketTransport>[0],
    private readonly onShared: () => void,
  ) {
    super(options);
  }
  override async sendSecAgg(message: SecAggUp): Promise<UpdateResponse> {
    const response = await super.sendSecAgg(message);
    if (message.step === 'shares' && response.ok) this.onShared();
    return response;
  }
}

test(
  'a client restarted mid-round (a reloaded page) sits the round out without holding it open',
  { timeout: 120_000 },
  async () => {
    const ROUND_TIMEOUT_MS = 600_000;
    const coordinator = await startSmallCoordinator('secagg-restart', {
      rounds: 2,
      minClients: 3,
      waitForClientsMs: 200,
      roundTimeoutMs: ROUND_TIMEOUT_MS,
      // As above: the restarted client withdraws (its keys come after the key step), so no step
      // waits for it and none needs the timeout.
      secureAggregation: { scale: SCALE, phaseTimeoutMs: PHASE_TIMEOUT_MS },
    });
    const { prepared, url } = coordinator;
    const shards = demoSplit({ clients: 3 }).shards;
    const errors: string[] = [];
    let restarted: FedClient | undefined;
    const restartedStarted = new Promise<void>((resolve) => {
      // Client 2 is replaced by a fresh instance (same id and secret, no round state) as soon as
      // its shares are in: its secrets for round 1 are gone with the old instance.
      const first: FedClient = nodeClient(url, shards[2]!, {
        transport: new ReportsSharing({ url }, () => {
          const { id, rejoinSecret } = first;
          first.stop();
          const fresh = nodeClient(url, shards[2]!, {
            clientId: id!,
            rejoinSecret: rejoinSecret!,
            onEvent: (event) => {
              if (event.type === 'error') errors.push(event.message);
            },
          });
          restarted = fresh;
          void fresh.start().then(resolve);
        }),
      });
      void first.start();
    });
    const others = shards.slice(0, 2).map((data) => nodeClient(url, data));
    try {
      await Promise.all(others.map((c) => c.start()));
      const [result] = await Promise.all([prepared.running.coordinator.run(), restartedStarted]);
      assert.equal(result.status, 'completed');
      const [first, second] = result.rounds;
      assert.deepEqual([first!.status, first!.sampled, first!.participants], ['aggregated', 3, 2]);
      assert.ok(
        first!.durationMs < ROUND_TIMEOUT_MS,
        'round 1 did not wait for the restarted client',
      );
      assert.deepEqual(
        [second!.status, second!.sampled, second!.participants],
        ['aggregated', 3, 3],
      );
      assert.ok(
        errors.some((e) => /round 1: .*keys refused \(wrong-phase\)/.test(e)),
        `the restarted client saw its keys refused: ${errors.join('; ')}`,
      );
    } finally {
      restarted?.stop();
      for (const client of others) client.stop();
      await coordinator.close();
    }
  },
);

test('a secure coordinator never starts a round with a single client, however long it waited', async () => {
  const coordinator = await startSmallCoordinator('secagg-one', {
    rounds: 1,
    minClients: 2,
    // Past this a plain coordinator starts with whoever is connected, even one client.
    waitForClientsMs: 50,
    secureAggregation: {},
  });
  const { prepared, events, url } = coordinator;
  const [first, second] = demoSplit({ clients: 2 }).shards.map((data) => nodeClient(url, data));
  try {
    await first!.start();
    const run = prepared.running.coordinator.run();
    // Well past waitForClientsMs, with one client connected: still waiting, no round.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.ok(events.filter((e) => e.type === 'waiting').length >= 2);
    assert.ok(!events.some((e) => e.type === 'round:started'), 'a round started with one client');
    await second!.start();
    const result = await run;
    assert.equal(result.status, 'completed');
    assert.deepEqual(
      result.rounds.map((r) => [r.status, r.sampled, r.participants]),
      [['aggregated', 2, 2]],
    );
  } finally {
    first!.stop();
    second!.stop();
    await coordinator.close();
  }
});

/**
 * A socket transport whose connection drops (and comes back by itself) when the roster arrives;
 * with `loseRoster` the roster is lost in the drop, as if it had never arrived.
 */
class DropsAtRoster extends SocketTransport {
  dropped = false;
  constructor(
    options: ConstructorParameters<typeof SocketTransport>[0],
    private readonly loseRoster: boolean,
  ) {
    super(options);
  }
  override connect(handlers: TransportHandlers): Promise<void> {
    return super.connect({
      ...handlers,
      secAgg: (message) => {
        if (message.step === 'roster' && !this.dropped) {
          this.dropped = true;
          // As a network failure would: socket.io reconnects, the client rejoins.
          (this as unknown as { socket: Socket }).socket.io.engine.close();
          if (this.loseRoster) return;
        }
        handlers.secAgg(message);
      },
    });
  }
}

for (const { loseRoster, title } of [
  {
    loseRoster: false,
    title: 'the shares it sent while away go out again after the rejoin',
  },
  {
    loseRoster: true,
    title: 'the roster it lost is sent again when it rejoins',
  },
]) {
  test(`a connection that drops at the share step: ${title}`, async () => {
    const coordinator = await startSmallCoordinator('secagg-reconnect', {
      rounds: 1,
      minClients: 3,
      waitForClientsMs: 60_000,
      roundTimeoutMs: 120_000,
      secureAggregation: { phaseTimeoutMs: 30_000 },
    });
    const { prepared, events, url } = coordinator;
    const flaky = new DropsAtRoster({ url }, loseRoster);
    const clients = demoSplit({ clients: 3 }).shards.map((data, i) =>
      nodeClient(url, data, i === 0 ? { transport: flaky } : {}),
    );
    try {
      await Promise.all(clients.map((c) => c.start()));
      const result = await prepared.running.coordinator.run();
      assert.ok(flaky.dropped, 'the connection was dropped');
      assert.ok(
        events.filter((e) => e.type === 'client:joined' && e.rejoin).length >= 1,
        'the client rejoined',
      );
      // All three in the sum: the dropped client shared its keys after all.
      assert.deepEqual(
        result.rounds.map((r) => [r.status, r.sampled, r.participants]),
        [['aggregated', 3, 3]],
      );
    } finally {
      for (const client of clients) client.stop();
      await coordinator.close();
    }
  });
}
