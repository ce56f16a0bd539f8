import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  hashRejoinSecret,
  newRejoinSecret,
  rejoinSecretMatches,
  settleRejoinSecret,
} from '../../../server/rejoinSecrets.js';

test('rejoin secrets are 32 random bytes in base64url, kept only as SHA-256', () => {
  const secrets = new Set(Array.from({ length: 100 }, () => newRejoinSecret()));
  assert.equal(secrets.size, 100);
  for (const secret of secrets) assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
  const [secret] = secrets;
  const hash = hashRejoinSecret(secret!);
  assert.equal(hash.byteLength, 32);
  assert.ok(rejoinSecretMatches(secret!, hash));
  assert.ok(!rejoinSecretMatches(`${secret!}x`, hash));
  assert.ok(!rejoinSecretMatches(secret!, hash.subarray(0, 31)), 'a truncated hash never matches');
});

test('settleRejoinSecret: new ids get a secret, taken ids need theirs, a per-client token rotates it', () => {
  const issued = settleRejoinSecret(undefined, undefined, false);
  assert.ok(issued?.newHash && rejoinSecretMatches(issued.secret, issued.newHash));
  const stored = issued.newHash;
  // The right secret: accepted, nothing new to store.
  assert.deepEqual(settleRejoinSecret(stored, issued.secret, false), { secret: issued.secret });
  // None or a wrong one: refused.
  assert.equal(settleRejoinSecret(stored, undefined, false), undefined);
  assert.equal(settleRejoinSecret(stored, newRejoinSecret(), false), undefined);
  // The id's own per-client token is proof enough: a device that lost the secret gets a new one.
  const rotated = settleRejoinSecret(stored, undefined, true);
  assert.ok(rotated?.newHash && rotated.secret !== issued.secret);
  assert.deepEqual(settleRejoinSecret(stored, issued.secret, true), { secret: issued.secret });
  // A client recorded before rejoin secrets existed: the first rejoin claims it.
  assert.ok(settleRejoinSecret(null, undefined, false)?.newHash);
});
