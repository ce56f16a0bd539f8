import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  PenaltyBox,
  addressKey,
  handshakeAddress,
  penaltySource,
} from '../../../server/penaltyBox.js';

test('a cut-off source is refused for a cool-down that doubles per cut-off, capped, and ends by itself', () => {
  let now = 0;
  const box = new PenaltyBox({ baseMs: 1000, maxMs: 5000, maxEntries: 10, now: () => now });
  assert.equal(box.remaining('a'), 0, 'never cut off: free');
  assert.equal(box.penalize('a'), 1000);
  assert.equal(box.remaining('a'), 1000);
  now = 400;
  assert.equal(box.remaining('a'), 600);
  assert.equal(box.remaining('b'), 0, 'another source is not touched');
  now = 1000;
  assert.equal(box.remaining('a'), 0, 'the cool-down is over');
  // Cut off again soon after: twice as long, then four times, then the cap.
  assert.equal(box.penalize('a'), 2000);
  now = 3000;
  assert.equal(box.penalize('a'), 4000);
  now = 7000;
  assert.equal(box.penalize('a'), 5000);
  now = 12_000;
  assert.equal(box.penalize('a'), 5000);
  assert.equal(box.remaining('a'), 5000);
});

test('a source whose cool-down has been over for maxMs is forgotten and starts again from the base', () => {
  let now = 0;
  const box = new PenaltyBox({ baseMs: 1000, maxMs: 5000, maxEntries: 10, now: () => now });
  box.penalize('a');
  box.penalize('a'); // 2000 ms, until t = 2000
  now = 2000 + 4999;
  assert.equal(box.penalize('a'), 4000, 'still remembered');
  // until t = 6999 + 4000 = 10999; forgotten from 15999 on.
  now = 15_999;
  assert.equal(box.remaining('a'), 0);
  assert.equal(box.size, 0, 'an expired entry is dropped when looked at');
  assert.equal(box.penalize('a'), 1000);
});

test('memory is bounded: forgotten entries go first, then the least recently penalised', () => {
  let now = 0;
  const box = new PenaltyBox({ baseMs: 100, maxMs: 100, maxEntries: 3, now: () => now });
  box.penalize('old'); // until 100, forgotten from 200
  now = 150;
  box.penalize('b');
  box.penalize('c');
  now = 250;
  box.penalize('d'); // full: 'old' is forgotten and makes room
  assert.equal(box.size, 3);
  assert.ok(box.remaining('d') > 0);
  box.penalize('b'); // b is now the most recently penalised; c the least
  box.penalize('e'); // full, nothing forgotten: c is dropped
  assert.equal(box.size, 3);
  assert.equal(box.remaining('c'), 0);
  for (const source of ['b', 'd', 'e']) assert.ok(box.remaining(source) > 0, source);
  for (let i = 0; i < 1000; i++) box.penalize(`flood-${i}`);
  assert.equal(box.size, 3, 'a flood of sources never grows the box past maxEntries');
});

test('a base of 0 turns penalties off', () => {
  const box = new PenaltyBox({ baseMs: 0, maxMs: 1000, maxEntries: 10 });
  assert.equal(box.penalize('a'), 0);
  assert.equal(box.remaining('a'), 0);
  assert.equal(box.size, 0);
});

test('sources: a per-client token by name, otherwise the address (IPv6 by /64)', () => {
  assert.equal(penaltySource('alice', '10.0.0.1'), 'client:alice');
  assert.equal(penaltySource(null, '10.0.0.1'), 'address:10.0.0.1');
  assert.equal(addressKey('::ffff:192.168.1.9'), '192.168.1.9');
  assert.equal(addressKey('2001:db8:0:1:aaaa:bbbb:cccc:dddd'), '2001:db8:0:1::/64');
  assert.equal(addressKey('2001:db8:0:1::7'), '2001:db8:0:1::/64', 'same /64, same key');
  assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  assert.equal(addressKey('not an address'), 'not an address');
});

test('the handshake address: the socket peer, or the last X-Forwarded-For entry behind a trusted proxy', () => {
  const handshake = {
    address: '127.0.0.1',
    headers: { 'x-forwarded-for': 'forged.example, 203.0.113.7, 198.51.100.4' },
  };
  assert.equal(handshakeAddress(handshake, false), '127.0.0.1', 'the header is ignored by default');
  assert.equal(handshakeAddress(handshake, true), '198.51.100.4');
  assert.equal(handshakeAddress({ address: '127.0.0.1', headers: {} }, true), '127.0.0.1');
});
