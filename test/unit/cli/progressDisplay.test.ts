/**
 * The terminal's progress display with a fake terminal stream: bars appear only
 * once there is progress, log lines written while bars are up land on lines of
 * their own above them (never inside a bar line) and none is lost when the bars
 * go; off a terminal every bit of progress is one plain log line.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import {
  ProgressDisplay,
  estimateRemaining,
  formatDuration,
} from '../../../cli/progressDisplay.js';
import { createLogger } from '../../../node/logger.js';
import { renderTerminal } from '../../support/terminal.js';

/** A stream that says it is an 80-column terminal and keeps what was written. */
function fakeTerminal(): { stream: NodeJS.WriteStream; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(stream, {
    isTTY: true,
    columns: 80,
    rows: 24,
    cursorTo: () => true,
    moveCursor: () => true,
    clearLine: () => true,
    clearScreenDown: () => true,
  });
  return { stream, text: () => text };
}

const LOG_LINE = /^\[\d\d:\d\d:\d\d\] (INFO|WARN|ERROR|DEBUG): \[test\] /;

test('log lines written while a bar is up come out whole, above the bar; the last one survives the stop', () => {
  const terminal = fakeTerminal();
  const display = new ProgressDisplay({ stream: terminal.stream });
  const logger = createLogger({ format: 'pretty', terminal: false, sink: display });
  display.attach(logger);
  const log = logger.child({ component: 'test' });
  assert.equal(terminal.text(), '');
  log.info('before any bar');
  const task = display.task({ name: 'teacher', total: 10, unit: 'steps' });
  for (let step = 1; step <= 10; step++) {
    task.update(step, `loss ${(1 / step).toFixed(3)}`);
    if (step === 5) log.info('halfway through training');
  }
  log.info('the last line before the bar goes');
  task.finish();
  log.info('after the bar');
  const raw = terminal.text();
  assert.match(raw, /teacher {2}\[[#-]{24}\]/, 'a bar was drawn');
  const screen = renderTerminal(raw);
  const logLines = screen.filter((line) => line.includes('[test]'));
  assert.equal(logLines.length, 4, screen.join('\n'));
  for (const line of logLines)
    assert.match(line, LOG_LINE, `log text inside another line: ${line}`);
  assert.deepEqual(
    logLines.map((line) => line.replace(LOG_LINE, '')),
    [
      'before any bar',
      'halfway through training',
      'the last line before the bar goes',
      'after the bar',
    ],
  );
  // clearOnComplete: no bar is left on the screen once the task is over.
  assert.ok(!screen.some((line) => /\[[#-]{24}\]/.test(line)), screen.join('\n'));
});

test('a status line shows and leaves no bar behind', () => {
  const terminal = fakeTerminal();
  const display = new ProgressDisplay({ stream: terminal.stream });
  display.status('waiting for clients: 0/2 connected');
  display.status(undefined);
  display.close();
  assert.doesNotMatch(terminal.text(), /\[[#-]{24}\]/);
  assert.match(terminal.text(), /waiting for clients: 0\/2 connected/);
});

test('off a terminal: one plain log line per tenth of progress and per status change', () => {
  const lines: string[] = [];
  let now = 0;
  const display = new ProgressDisplay({ interactive: false, now: () => now });
  const logger = createLogger({ format: 'json', sink: { write: (line) => lines.push(line) } });
  display.attach(logger);
  display.status('waiting for clients: 0/4 connected', 'w0');
  display.status('waiting for clients: 0/4 connected (59 s)', 'w0');
  display.status('waiting for clients: 1/4 connected', 'w1');
  const task = display.task({ name: 'rounds', total: 4, unit: 'rounds' });
  for (let round = 0; round <= 4; round++) {
    task.update(round, `round ${round}`);
    now += 10_000;
  }
  task.finish();
  const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.ok(lines.every((line) => !line.includes('\r') && !line.includes('\x1b')));
  assert.deepEqual(
    records.map((r) => r.msg),
    [
      'waiting for clients: 0/4 connected',
      'waiting for clients: 1/4 connected',
      'rounds 0% (0/4 rounds), ETA … | round 0',
      'rounds 25% (1/4 rounds), ETA 30 s | round 1',
      'rounds 50% (2/4 rounds), ETA 20 s | round 2',
      'rounds 75% (3/4 rounds), ETA 10 s | round 3',
      'rounds 100% (4/4 rounds), ETA 0 s | round 4',
    ],
  );
  assert.deepEqual(
    records.slice(2).map((r) => [r.task, r.done, r.total, r.etaMs]),
    [
      ['rounds', 0, 4, null],
      ['rounds', 1, 4, 30_000],
      ['rounds', 2, 4, 20_000],
      ['rounds', 3, 4, 10_000],
      ['rounds', 4, 4, 0],
    ],
  );
});

test('ETA from the pace so far, and durations in words', () => {
  // 2 of 10 done in 4 s since a start at 0: 2 s each, 8 left.
  assert.equal(estimateRemaining(1000, 5000, 0, 2, 10), 16_000);
  assert.equal(estimateRemaining(1000, 5000, 2, 2, 10), undefined);
  assert.equal(estimateRemaining(1000, 5000, 0, 10, 10), 0);
  assert.equal(formatDuration(42_400), '42 s');
  assert.equal(formatDuration(185_000), '3 min 05 s');
  assert.equal(formatDuration(3_720_000), '1 h 02 min');
});
