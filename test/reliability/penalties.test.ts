/**
 * Cut-offs that last: a connection cut off for refused messages gets its
 * source refused at the handshake (`rate-limited`) for a cool-down. The source
 * is a per-client token's name when the peer has one (so its owner alone is
 * refused), else its address (so peers behind it share the cool-down, and an
 * honest client caught by it waits it out and rejoins by itself).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { prepareCoordinator, type PreparedCoordinator } from '../../cli/coordinatorSetup.js';
import type { CoordinatorConfigInput } from '../../server/config.js';
import { FedClient, type FedClientEvent } from '../../client/fedClient.js';
import { SocketTransport } from '../../client/socketTransport.js';
import type { JoinResponse } from '../../shared/protocol/index.js';
import { demoSplit } from '../../node/demo/demoSplit.js';
import { VALID_AUTH, connectSocket, disconnected } from './adversaries.js';
import { SMALL_MODELS, smallTraining } from '../support/smallRun.js';

const SHARED = 'shared-join-token';
const MALLORY = 'mallory-device-token';
const ALICE = 'alice-device-token';
const MAX_REFUSALS = 2;
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function coordinator(config: Partial<CoordinatorConfigInput>): Promise<PreparedCoordinator> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-penalties-'));
  dirs.push(dataDir);
  const tokensFile = join(dataDir, 'tokens.txt');
  writeFileSync(tokensFile, `mallory:${MALLORY}\nalice:${ALICE}\n`);
  return prepareCoordinator({
    config: {
      port: 0,
      dataDir,
      rounds: 1,
      minClients: 1,
      roundTimeoutMs: 60_000,
      tokens: [SHARED],
      tokensFile,
      maxRefusals: MAX_REFUSALS,
      training: smallTraining(),
      ...config,
    },
    backend: 'cpu',
    ...SMALL_MODELS,
    log: () => undefined,
  });
}

/** Connects with `token` and sends refused messages until the coordinator cuts the connection off. */
async function getCutOff(url: string, token: string): Promise<void> {
  const { socket, refused } = await connectSocket(url, VALID_AUTH(token));
  assert.ok(!refused, `${token} refused before any cut-off: ${refused?.code}`);
  for (let i = 0; i <= MAX_REFUSALS; i++) socket.emit('update', { roundId: 1 });
  assert.equal(await disconnected(socket, 10_000), 'io server disconnect', 'cut off');
}

async function joins(url: string, token: string): Promise<boolean> {
  const { socket, refused } = await connectSocket(url, VALID_AUTH(token));
  if (refused) return false;
  const response = (await socket
    .timeout(10_000)
    .emitWithAck('join', { platform: 'node', backend: 'cpu', numSamples: 1 })) as JoinResponse;
  socket.close();
  return response.ok;
}

test('a cut-off source cannot reconnect during its cool-down; other sources still join', async () => {
  // A cool-down far longer than this test: nothing here can outlast it.
  const prepared = await coordinator({ cutOffCooldownMs: 600_000, maxCutOffCooldownMs: 600_000 });
  const { url } = prepared.running;
  try {
    // Mallory's per-client token is cut off: her token is refused, with the code and a retry time.
    await getCutOff(url, MALLORY);
    const again = await connectSocket(url, VALID_AUTH(MALLORY));
    assert.equal(again.refused?.code, 'rate-limited');
    assert.match(again.refused.message, /cut off for refused messages; retry in \d+ s/);
    // The penalty is on her token, not on the address everyone here shares.
    assert.ok(await joins(url, ALICE), 'alice (another client token) joins');
    assert.ok(await joins(url, SHARED), 'a shared-token client from the same address joins');

    // A shared-token peer has no identity of its own: its address serves the cool-down.
    const bystander = await connectSocket(url, VALID_AUTH(SHARED));
    assert.ok(!bystander.refused);
    await getCutOff(url, SHARED);
    const fromAddress = await connectSocket(url, VALID_AUTH(SHARED));
    assert.equal(fromAddress.refused?.code, 'rate-limited');
    assert.match(fromAddress.refused.message, /from this address/);
    assert.ok(bystander.socket.connected, 'connections already up are not touched');
    assert.ok(await joins(url, ALICE), 'a per-client token still joins from that address');
    bystander.socket.close();
  } finally {
    await prepared.running.close();
    prepared.teacher.dispose();
  }
});

test('an honest client whose reconnect is rate-limited waits the cool-down out, rejoins and trains', async () => {
  const prepared = await coordinator({ cutOffCooldownMs: 5000, maxCutOffCooldownMs: 5000 });
  const { url, io } = prepared.running;
  try {
    const events: FedClientEvent[] = [];
    let rejoined: () => void = () => undefined;
    const rejoinedPromise = new Promise<void>((resolve) => (rejoined = resolve));
    const client = new FedClient({
      transport: new SocketTransport({ url, token: SHARED }),
      data: demoSplit({ clients: 4 }).shards[0]!,
      platform: 'node',
      backend: 'cpu',
      onEvent: (event) => {
        events.push(event);
        if (event.type === 'joined' && event.rejoin) rejoined();
      },
    });
    await client.start();
    // A peer at the client's address is cut off, then the client's connection drops.
    await getCutOff(url, SHARED);
    for (const socket of io.of('/').sockets.values())
      if (socket.data.clientId === client.id) socket.conn.close();
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'gave up'>(
      (resolve) => (timer = setTimeout(resolve, 60_000, 'gave up')),
    );
    const outcome = await Promise.race([rejoinedPromise, gaveUp]);
    clearTimeout(timer);
    assert.notEqual(outcome, 'gave up', 'the client never rejoined after the cool-down');
    const limited = events.find(
      (e) => e.type === 'disconnected' && e.reason.startsWith('rate-limited'),
    );
    assert.ok(limited, `the reconnect was refused for the cool-down: ${JSON.stringify(events)}`);
    assert.ok(
      events.indexOf(limited) < events.findIndex((e) => e.type === 'joined' && e.rejoin),
      'refused first, rejoined after',
    );
    const result = await prepared.running.coordinator.run();
    assert.equal(await client.done, 'completed');
    client.stop();
    assert.equal(result.status, 'completed');
    assert.equal(result.rounds[0]!.participants, 1, "the rejoined client's update was aggregated");
  } finally {
    await prepared.running.close();
    prepared.teacher.dispose();
  }
});
