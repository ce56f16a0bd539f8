import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StrikeCounter } from '../../../server/strikes.js';

test('trips on the first refusal past the limit within the window, and forgets old ones', () => {
  let now = 0;
  const counter = new StrikeCounter(2, 1000, () => now);
  assert.equal(counter.strike(), false); // t=0: 1
  now = 500;
  assert.equal(counter.strike(), false); // t=500: 2
  now = 1200; // the t=0 strike has left the window
  assert.equal(counter.strike(), false); // 500, 1200
  now = 1300;
  assert.equal(counter.strike(), true); // 500, 1200, 1300: 3 > 2
});

test('a limit of zero cuts off at the first refusal', () => {
  assert.equal(new StrikeCounter(0, 1000).strike(), true);
});
