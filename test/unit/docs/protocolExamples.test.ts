/**
 * The byte examples of docs/protocol.md are what the codec writes: every `<!-- example: NAME -->`
 * block decodes to the value named here, that value encodes to exactly those bytes, and the page
 * and this list name the same examples (so none can be added, changed or dropped unchecked).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { createCodec, createSocketParser, encodeWeights } from '../../../shared/codec/index.js';

const EXAMPLES: Record<string, { value: unknown; packet?: boolean }> = {
  'float32-short': { value: Float32Array.from([1, 2]) },
  'float32-64': { value: new Float32Array(64) },
  'float32-16384': { value: new Float32Array(16_384) },
  uint8: { value: Uint8Array.from([0, 128, 255]) },
  'weights-float16': { value: encodeWeights(Float32Array.from([1, -2]), 'float16') },
  'weights-int8': { value: encodeWeights(Float32Array.from([0.5, -0.5, 0.25]), 'int8') },
  'abstain-event': {
    packet: true,
    value: {
      type: 2,
      nsp: '/',
      data: ['abstain', { reason: 'data-mismatch', message: 'features' }],
      id: 7,
    },
  },
  'abstain-ack': { packet: true, value: { type: 3, nsp: '/', data: [{ ok: true }], id: 7 } },
};

/** Hex bytes with `XX×N` runs, whitespace ignored. */
function parseHex(text: string): Uint8Array {
  const bytes: number[] = [];
  for (const token of text.trim().split(/\s+/)) {
    const run = /^([0-9a-f]{2})×(\d+)$/.exec(token);
    if (run) bytes.push(...new Array<number>(Number(run[2])).fill(parseInt(run[1]!, 16)));
    else {
      assert.match(token, /^[0-9a-f]{2}$/, `not a hex byte: ${token}`);
      bytes.push(parseInt(token, 16));
    }
  }
  return Uint8Array.from(bytes);
}

function documentedExamples(): Map<string, Uint8Array> {
  const page = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');
  const found = new Map<string, Uint8Array>();
  for (const match of page.matchAll(/<!-- example: ([\w-]+) -->\s*```[^\n]*\n([\s\S]*?)```/g)) {
    assert.ok(!found.has(match[1]!), `example ${match[1]} twice`);
    found.set(match[1]!, parseHex(match[2]!));
  }
  return found;
}

test('docs/protocol.md names exactly the examples checked here', () => {
  assert.deepEqual([...documentedExamples().keys()].sort(), Object.keys(EXAMPLES).sort());
});

test('every byte example of docs/protocol.md decodes to its value and is what the codec writes', () => {
  const codec = createCodec();
  const encoder = new (createSocketParser().Encoder)();
  for (const [name, bytes] of documentedExamples()) {
    const { value, packet } = EXAMPLES[name]!;
    const encoded = packet
      ? (encoder.encode(value as never) as Uint8Array[])[0]!
      : codec.encode(value);
    assert.equal(
      Buffer.from(encoded).toString('hex'),
      Buffer.from(bytes).toString('hex'),
      `${name}: the codec writes other bytes`,
    );
    assert.deepEqual(codec.decode(bytes), value, `${name}: the bytes decode to another value`);
  }
});
