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
      ['e1', { t: 'cut', link: 'a' }],
      ['e1', { t: 'cut', link: 'b' }],
    ],
  );
  assert.deepEqual(disconnected.sort(), ['a', 'b']);
});
