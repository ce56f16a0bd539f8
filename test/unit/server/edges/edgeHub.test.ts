/**
 * The master's hub of edge-held connections: dropping an edge (silent, or
 * restarted) cuts each of its connections at the edge too, so their clients
 * reconnect and join again instead of waiting for rounds that never sample them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EdgeHub } from '../../../../server/edges/edgeHub.js';
import type { DownMessage } from '../../../../server/edges/messages.js';

test('dropping an edge sends a cut for each of its links and closes them at the master', () => {
  const sent: [string, DownMessage][] = [];
  const hub = new EdgeHub(
    (edge, message) => void sent.push([edge, message]),
    () => ['e1', 'e2'],
  );
  const disconnected: string[] = [];
  hub.onConnection((link) =>
    link.onDisconnect(() => disconnected.push((link as unknown as { id: string }).id)),
  );
  hub.receive('e1', { t: 'connect', link: 'a' });
  hub.receive('e1', { t: 'connect', link: 'b' });
  hub.receive('e2', { t: 'connect', link: 'c' });
  hub.dropEdge('e1');
  assert.deepEqual(
    sent.filter(([, m]) => m.t === 'cut'),
    [
      ['e1', { t: 'cut', link: 'a', rejoin: true }],
      ['e1', { t: 'cut', link: 'b', rejoin: true }],
    ],
  );
  assert.deepEqual(disconnected.sort(), ['a', 'b']);
});

test("a buffered round's claim: its norm outlives the dispatch, its ack carries the grant, even to a link gone meanwhile", async () => {
  const sent: [string, DownMessage][] = [];
  const hub = new EdgeHub(
    (edge, message) => void sent.push([edge, message]),
    () => ['e1'],
  );
  const grant = { epoch: 2, weight: 0.5, id: '2.0' };
  hub.takeGrant = (clientId) => (clientId === 'client-a' ? grant : undefined);
  let later: (() => void) | undefined;
  hub.onConnection((link) => {
    link.on('join', (_payload, ack) => {
      link.clientId = 'client-a';
      ack({ ok: true } as never);
    });
    // As a buffered round does with a claim that waits for the next buffer: answered later.
    link.on('update', (_payload, ack) => {
      later = () => ack({ ok: true, roundId: 2 });
    });
  });
  hub.receive('e1', { t: 'event', link: 'a', event: 'join', payload: {}, req: 0, bytes: 10 });
  hub.receive('e1', {
    t: 'event',
    link: 'a',
    event: 'update',
    payload: {},
    req: 1,
    bytes: 99,
    norm: 3.5,
  });
  // The claim's handling has returned; its norm is still the one the master judges.
  assert.equal(hub.claimNormOf('client-a'), 3.5);
  // The client's socket closes at the edge before the master answers.
  hub.receive('e1', { t: 'gone', link: 'a' });
  later!();
  await Promise.resolve();
  const acks = sent.filter(([, m]) => m.t === 'ack').map(([, m]) => m);
  assert.deepEqual(acks.at(-1), {
    t: 'ack',
    link: 'a',
    req: 1,
    response: { ok: true, roundId: 2 },
    grant,
  });
});
