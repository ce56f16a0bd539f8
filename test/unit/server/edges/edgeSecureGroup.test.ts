/**
 * An edge's secure group (server/edges/edgeSecureGroup.ts) with real client
 * sessions (client/secureSession.ts), message by message: the edge relays the
 * protocol's steps, checks each masked input before its claim goes to the
 * master, adds only granted ones, and its partial is Σ nᵤ·deltaᵤ over the
 * survivors (to fixed-point resolution) with Σ nᵤ as weight — also when the
 * master refuses one member's claim, whose masks the others' shares remove.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SecureSession } from '../../../../client/secureSession.js';
import { DEFAULT_TRAINING } from '../../../../server/config.js';
import { EdgeSecureGroups } from '../../../../server/edges/edgeSecureGroup.js';
import { createRng } from '../../../../shared/data/index.js';
import type { SecAggDown, UpdateMessage } from '../../../../shared/protocol/index.js';

const LENGTH = 500;
const SCALE = 2 ** 20;
const SESSION = 'run/1@0#edge:e1';
const metrics = { loss: 1, accuracy: 0.5, trainMillis: 1, steps: 1 };

test("an edge's group: granted masked inputs unmask to Σ n·delta of the survivors; a refused claim is left out", async () => {
  const samples = new Map([
    ['a', 30],
    ['b', 10],
    ['c', 60],
  ]);
  const rng = createRng(3);
  const deltas = new Map(
    [...samples.keys()].map((id) => [
      id,
      Float32Array.from({ length: LENGTH }, () => (rng.next() - 0.5) * 0.02),
    ]),
  );
  const sessions = new Map<string, SecureSession>();
  const logs: string[] = [];
  const edge = new EdgeSecureGroups({
    send: (clientId: string, message: SecAggDown) => sessions.get(clientId)?.handle(message),
    log: (message) => void logs.push(message),
  });
  edge.open({
    t: 'secure:group',
    roundId: 1,
    session: SESSION,
    members: [...samples].map(([clientId, numSamples]) => ({ clientId, numSamples })),
    thresholdFraction: 2 / 3,
    scale: SCALE,
    phaseTimeoutMs: 5_000,
    numParams: LENGTH,
  });
  assert.equal(edge.holds(1), true);
  assert.equal(edge.startFor(1, 'z'), undefined);
  // Each member's weight is its share of the group's samples, N_g = 100.
  assert.equal(edge.startFor(1, 'c')?.weight, 0.6);
  assert.equal(edge.startFor(1, 'a')?.clients, 3);
  const deadline = Date.now() + 60_000;
  for (const clientId of samples.keys()) {
    const session = new SecureSession({
      round: {
        roundId: 1,
        modelVersion: 0,
        deadline,
        config: DEFAULT_TRAINING,
        secureAggregation: edge.startFor(1, clientId)!,
      },
      length: LENGTH,
      send: (message) => Promise.resolve(edge.step(clientId, message)),
      onError: (message) => assert.fail(`${clientId}: ${message}`),
    });
    sessions.set(clientId, session);
    session.start();
  }
  // A step from a client outside the group, or for another round, is refused.
  const keys = { step: 'keys', roundId: 1, session: SESSION } as const;
  assert.match(
    JSON.stringify(
      edge.step('z', { ...keys, channelKey: new Uint8Array(65), maskKey: new Uint8Array(65) }),
    ),
    /not-sampled/,
  );
  assert.match(
    JSON.stringify(edge.step('a', { ...keys, roundId: 2 })),
    /invalid-payload|wrong-round/,
  );
  const updates = new Map<string, UpdateMessage>();
  for (const [clientId, session] of sessions) {
    const masked = await session.mask(deltas.get(clientId)!, deadline);
    updates.set(clientId, {
      roundId: 1,
      modelVersion: 0,
      numSamples: samples.get(clientId)!,
      masked,
      session: session.session,
      metrics,
    });
  }
  const a = updates.get('a')!;
  assert.equal(edge.checkMasked('z', a)?.code, 'not-sampled');
  assert.equal(edge.checkMasked('a', { ...a, session: 'other' })?.code, 'wrong-phase');
  assert.equal(
    edge.checkMasked('a', { ...a, masked: new Uint32Array(3) })?.code,
    'invalid-payload',
  );
  for (const [clientId, update] of updates) {
    assert.equal(edge.checkMasked(clientId, update), undefined);
    edge.claim(clientId);
  }
  // A second input while the first claim is with the master.
  assert.equal(edge.checkMasked('a', a)?.code, 'duplicate');
  // The master grants a and c, refuses b (say, its deadline had passed).
  edge.settleClaim('a', 1, true, a);
  edge.settleClaim('b', 1, false, updates.get('b')!);
  edge.settleClaim('c', 1, true, updates.get('c')!);
  const partial = await edge.close(1);
  assert.ok(partial?.sum, JSON.stringify({ partial, logs }));
  assert.deepEqual(partial.clients, ['a', 'c']);
  assert.equal(partial.weight, 90);
  // Σ nᵤ·deltaᵤ over a and c; each input rounds wᵤ·delta to 1/scale, then × N_g = 100.
  const bound = (2 * 100) / (2 * SCALE) + 1e-9;
  let worst = 0;
  for (let k = 0; k < LENGTH; k++) {
    const expected = 30 * deltas.get('a')![k]! + 60 * deltas.get('c')![k]!;
    worst = Math.max(worst, Math.abs(partial.sum[k]! - expected));
  }
  assert.ok(worst <= bound, `error ${worst} > ${bound}`);
  assert.equal(edge.holds(1), false);
  // A claim granted after the group closed is not added anywhere.
  edge.settleClaim('b', 1, true, updates.get('b')!);
  assert.ok(logs.some((line) => /granted after its group closed/.test(line)));
});

test('a group whose members never send keys closes with no sum and says why', async () => {
  const edge = new EdgeSecureGroups({ send: () => undefined, log: () => undefined });
  edge.open({
    t: 'secure:group',
    roundId: 3,
    session: SESSION,
    members: [
      { clientId: 'a', numSamples: 1 },
      { clientId: 'b', numSamples: 1 },
    ],
    thresholdFraction: 2 / 3,
    scale: SCALE,
    phaseTimeoutMs: 50,
    numParams: LENGTH,
  });
  // The same round opened again (the master took the edge for new) changes nothing.
  edge.open({
    t: 'secure:group',
    roundId: 3,
    session: 'another',
    members: [],
    thresholdFraction: 2 / 3,
    scale: SCALE,
    phaseTimeoutMs: 50,
    numParams: LENGTH,
  });
  assert.equal(edge.startFor(3, 'a')?.session, SESSION);
  const partial = await edge.close(3);
  assert.deepEqual(partial?.clients, []);
  assert.equal(partial?.sum, undefined);
  assert.match(
    partial?.note ?? '',
    /secure aggregation: 0 clients with valid keys, threshold is 2/,
  );
});
