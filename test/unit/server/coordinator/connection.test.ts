/**
 * The per-connection guard: answering a client (its ack, a cut-off's
 * disconnect) can throw on a broken link; that must be a counted
 * `coordinator:fault` event, never an exception or an unhandled rejection that
 * ends the coordinator's process.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ClientLink } from '../../../../server/clientHub.js';
import { serveConnection } from '../../../../server/coordinator/connection.js';
import type { ConnectionHandlers } from '../../../../server/coordinator/connection.js';
import type { CoordinatorEvent } from '../../../../server/coordinator/events.js';

type Handler = (payload: unknown, ack: unknown) => void;

/** A link whose disconnect throws, as a transport's might once its socket broke. */
class BrokenLink implements ClientLink {
  clientId: string | undefined = 'client-1';
  readonly handlers = new Map<string, Handler>();
  on(event: string, handler: unknown): void {
    this.handlers.set(event, handler as Handler);
  }
  onDisconnect(): void {}
  emit(): void {}
  disconnect(): void {
    throw new Error('disconnect: socket already destroyed');
  }
  send(event: string, payload: unknown, ack: unknown): void {
    this.handlers.get(event)!(payload, ack);
  }
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
before(() => process.on('unhandledRejection', onUnhandled));
after(() => process.off('unhandledRejection', onUnhandled));

function handlers(update: ConnectionHandlers['update']): ConnectionHandlers {
  return {
    join: () => ({ ok: true }),
    update,
    secagg: () => ({ ok: false }),
    abstain: () => ({ ok: true }),
    disconnect: () => undefined,
  };
}

const throwingAck = () => {
  throw new Error('ack: transport closed');
};

/** Lets the promise chains of a deferred answer run, then a macrotask for unhandled rejections. */
const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 10));

test('an ack that throws on a deferred (promised) answer is a fault event, not an unhandled rejection', async () => {
  const events: CoordinatorEvent[] = [];
  const link = new BrokenLink();
  serveConnection(
    link,
    handlers(() => Promise.resolve({ ok: true })),
    { maxRefusals: 5, refusalWindowMs: 60_000 },
    (event) => events.push(event),
  );
  link.send('update', {}, throwingAck);
  await settle();
  assert.deepEqual(unhandled, []);
  assert.deepEqual(events, [
    { type: 'coordinator:fault', where: 'answer', message: 'ack: transport closed' },
  ]);
});

test('an ack that throws on an immediate answer does not escape the event handler', () => {
  const events: CoordinatorEvent[] = [];
  const link = new BrokenLink();
  serveConnection(
    link,
    handlers(() => ({ ok: true })),
    { maxRefusals: 5, refusalWindowMs: 60_000 },
    (e) => events.push(e),
  );
  assert.doesNotThrow(() => link.send('join', {}, throwingAck));
  assert.deepEqual(
    events.map((e) => e.type),
    ['coordinator:fault'],
  );
});

test('a cut-off whose disconnect throws (deferred refusal) is a fault event; the refusals still count', async () => {
  const events: CoordinatorEvent[] = [];
  const link = new BrokenLink();
  serveConnection(
    link,
    handlers(() => Promise.resolve({ ok: false })),
    { maxRefusals: 0, refusalWindowMs: 60_000 },
    (event) => events.push(event),
  );
  const acks: unknown[] = [];
  link.send('update', {}, (r: unknown) => acks.push(r));
  await settle();
  assert.deepEqual(unhandled, []);
  assert.deepEqual(acks, [{ ok: false }]);
  assert.deepEqual(
    events.map((e) => e.type),
    ['client:cut-off', 'coordinator:fault'],
  );
  assert.match((events[1] as { message: string }).message, /socket already destroyed/);
});

test('a listener that throws while the fault is told does not escape either', async () => {
  const link = new BrokenLink();
  const logged: unknown[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(args.join(' '));
  try {
    serveConnection(
      link,
      handlers(() => Promise.resolve({ ok: true })),
      { maxRefusals: 5, refusalWindowMs: 60_000 },
      () => {
        throw new Error('listener broke');
      },
    );
    link.send('update', {}, throwingAck);
    await settle();
  } finally {
    console.error = original;
  }
  assert.deepEqual(unhandled, []);
  assert.equal(logged.length, 1);
  assert.match(String(logged[0]), /ack: transport closed.*listener broke/);
});
