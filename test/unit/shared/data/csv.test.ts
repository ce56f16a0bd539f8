import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCsv } from '../../../../shared/data/csv.js';
import { DatasetError } from '../../../../shared/errors.js';

test('label in column 0, no header, normalised', () => {
  const data = parseCsv('3,0,255\n1,51,102\n', { normalize: 255 });
  assert.equal(data.count, 2);
  assert.deepEqual([...data.y], [3, 1]);
  assert.ok(data.y instanceof Uint8Array);
  // 51/255 = 0.2, 102/255 = 0.4.
  assert.deepEqual([...data.x], [0, 1, Math.fround(0.2), Math.fround(0.4)]);
});

test('header auto-detected; label by name or negative index; CRLF, BOM, blank lines, quotes', () => {
  const text = '\uFEFFa,b,label\r\n1.5,-2e1,4\r\n\r\n"0.25", .5 ,"2"\r\n';
  const byName = parseCsv(text, { labelColumn: 'label' });
  assert.deepEqual([...byName.y], [4, 2]);
  assert.deepEqual([...byName.x], [1.5, -20, 0.25, 0.5]);
  assert.deepEqual(parseCsv(text, { labelColumn: -1 }), byName);
  // header: false forces the first line to be data, and then it fails on 'a'.
  assert.throws(() => parseCsv(text, { header: false }), /line 1, column 1: 'a' is not a number/);
  // header: true drops a numeric first line.
  assert.equal(parseCsv('0,1\n1,2\n', { header: true }).count, 1);
  // Labels above 255 switch to Int32Array.
  assert.ok(parseCsv('300,1\n').y instanceof Int32Array);
});

test('hostile input: clear DatasetError with line numbers', () => {
  assert.throws(() => parseCsv(''), /no rows/);
  assert.throws(() => parseCsv('\n  \n'), /no rows/);
  assert.throws(() => parseCsv('label,x\n'), /no data rows/);
  assert.throws(() => parseCsv('1,2,3\n0,1\n'), /line 2 has 2 cells, expected 3 \(as on line 1\)/);
  assert.throws(() => parseCsv('1,2\n\n0,1,5\n'), /line 3 has 3 cells/);
  assert.throws(() => parseCsv('1,2\n0,\n'), /line 2, column 2: '' is not a number/);
  for (const cell of ['NaN', 'Infinity', '0x10', '1e', '--1', '1 2']) {
    assert.throws(() => parseCsv(`1,2\n0,${cell}\n`), DatasetError, cell);
  }
  assert.throws(
    () => parseCsv('1,2\n2.5,1\n'),
    /line 2: label '2.5' is not a non-negative integer/,
  );
  assert.throws(() => parseCsv('1,2\n-1,1\n'), /label '-1'/);
  assert.throws(() => parseCsv('1,2\n1e400,1\n'), /label '1e400'/);
  assert.throws(() => parseCsv('1,1e39\n'), /overflows float32/);
  assert.throws(() => parseCsv('1,2\n', { labelColumn: 'y' }), /no header row|no column 'y'/);
  assert.throws(() => parseCsv('a,b\n1,2\n', { labelColumn: 'y' }), /no column 'y': a, b/);
  assert.throws(() => parseCsv('1,2\n', { labelColumn: 2 }), /outside the 2 columns/);
  assert.throws(() => parseCsv('1,2\n', { labelColumn: 1.5 }), DatasetError);
  assert.throws(() => parseCsv('1\n2\n'), /need a label and features/);
  assert.throws(() => parseCsv('1,2\n', { normalize: 0 }), /divisor/);
  assert.throws(() => parseCsv('1,2\n', { delimiter: '"' }), /delimiter/);
  assert.throws(() => parseCsv('1,2\n', { labelColumn: 'y', header: false }), /no header row/);
  // A long bad cell is shortened in the message.
  assert.throws(
    () => parseCsv(`1,2\n0,${'x'.repeat(5000)}\n`),
    (err: Error) => err.message.length < 200,
  );
});

test('semicolon delimiter', () => {
  const data = parseCsv('x;y;label\n1;2;0\n', { delimiter: ';', labelColumn: 'label' });
  assert.deepEqual([...data.x], [1, 2]);
  assert.deepEqual([...data.y], [0]);
});
