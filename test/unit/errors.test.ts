import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CodecError, DistillationInputError } from '../../shared/index.js';

test('typed errors carry their name and code for peers and logs', () => {
  const codec = new CodecError('payload of 9 bytes exceeds limit 8', 'too-large');
  assert.equal(codec.name, 'CodecError');
  assert.equal(codec.code, 'too-large');
  assert.ok(codec instanceof Error);
  assert.equal(new DistillationInputError('x').name, 'DistillationInputError');
});
