/**
 * `fedistill demo` as a person sees it in a terminal: run under a real
 * pseudo-terminal (util-linux `script`), its output replayed into screen lines
 * (test/support/terminal.ts). No log text may land inside a progress bar's line,
 * the teacher's bar comes after its log line, and a cached teacher shows no bar;
 * `simulate` with several strategies prints every run's result line.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI_MAIN } from './processes.js';
import { renderTerminal } from '../support/terminal.js';

/** Runs `fedistill <args>` on a pseudo-terminal of 120 columns; resolves to its raw output. */
function runOnTerminal(
  args: string[],
  timeoutMs = 300_000,
): Promise<{ code: number | null; raw: string }> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, '--import', import.meta.resolve('tsx'), CLI_MAIN, ...args]
    .map(quote)
    .join(' ');
  // -q: no banner; -f: flush as written; -e: exit with the command's code; -c: the command.
  const child = spawn('script', ['-qfec', `stty cols 120 rows 40; exec ${command}`, '/dev/null'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let raw = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => (raw += chunk));
  child.stderr.on('data', (chunk: Buffer) => (raw += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, raw });
    }),
  );
}

const BAR = /\[[#-]{24}\]/;
const TIMESTAMP = /\[\d\d:\d\d:\d\d\] (INFO|WARN|ERROR|DEBUG): /;

function demoArgs(dataDir: string, clients: number, rounds: number): string[] {
  return [
    'demo',
    '--clients',
    String(clients),
    '--rounds',
    String(rounds),
    '--epochs',
    '1',
    '--teacher-spec',
    'mlp:32',
    '--teacher-epochs',
    '2',
    '--student',
    'mlp:16',
    '--data-dir',
    dataDir,
  ];
}

/** Every log line is a line of its own, whole: its timestamp starts the line and no bar shares it. */
function assertUngarbled(screen: string[]): void {
  for (const line of screen) {
    const at = line.search(TIMESTAMP);
    if (at > 0) assert.fail(`log text inside another line: ${JSON.stringify(line)}`);
    if (at === 0) assert.doesNotMatch(line, BAR, `a bar inside a log line: ${line}`);
    if (/\[(demo|simulate)\] /.test(line) && at !== 0)
      assert.fail(`a log line without its head: ${JSON.stringify(line)}`);
  }
}

test('demo on a terminal: bars and log lines never share a line; a cached teacher draws no bar', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-terminal-'));
  try {
    const first = await runOnTerminal(demoArgs(dataDir, 2, 2));
    assert.equal(first.code, 0, first.raw);
    // Bars were drawn: the teacher's while it trained, the rounds' with an ETA.
    assert.match(first.raw, new RegExp(`teacher {2}${BAR.source} +\\d+% \\d+/\\d+ steps`));
    assert.match(first.raw, new RegExp(`rounds {3}${BAR.source} +\\d+% \\d/2 rounds \\| ETA `));
    assert.match(first.raw, /waiting for clients: \d\/2 connected/);
    // The teacher's bar starts after the line saying it trains, not before it.
    assert.ok(
      first.raw.indexOf('teacher  [') > first.raw.indexOf('teacher: training default teacher'),
      'the bar came before its log line',
    );
    const screen = renderTerminal(first.raw);
    assertUngarbled(screen);
    for (const expected of [
      /\[demo\] tfjs backend: wasm$/,
      /\[demo\] teacher: training default teacher on 4000 labelled samples/,
      /\[demo\] round 1 \(1\/2\): 2\/2 updates, student accuracy/,
      /\[demo\] round 2 \(2\/2\): 2\/2 updates, student accuracy/,
      /\[demo\] run completed after 2 aggregated rounds$/,
    ])
      assert.ok(
        screen.some((line) => TIMESTAMP.test(line) && expected.test(line)),
        `no whole line ${expected}:\n${screen.join('\n')}`,
      );
    // The summary (stdout) follows, bars cleared away.
    assert.ok(screen.some((line) => /^student is [\d.]+× smaller/.test(line)));
    assert.ok(!screen.some((line) => BAR.test(line)), 'a bar was left on the screen');
    assert.doesNotMatch(first.raw, /Cannot find (module|package)/);

    const second = await runOnTerminal(demoArgs(dataDir, 1, 1));
    assert.equal(second.code, 0, second.raw);
    const again = renderTerminal(second.raw);
    assertUngarbled(again);
    assert.ok(again.some((line) => /\[demo\] teacher: reusing cached default teacher/.test(line)));
    assert.doesNotMatch(second.raw, /teacher {2}\[/, 'a bar for a teacher that did not train');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('simulate on a terminal: one bar across runs, and the result line of every run survives it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-terminal-sim-'));
  try {
    const config = join(dir, 'sim.yaml');
    writeFileSync(
      config,
      [
        'name: terminal',
        `cacheDir: ${JSON.stringify(join(dir, 'cache'))}`,
        'data: { total: 600 }',
        'clients: 2',
        'rounds: 2',
        "teacher: { spec: 'mlp:16', epochs: 1 }",
        "student: 'mlp:16'",
        'strategy: [central, fedavg, fedkd]',
        'workers: 0',
      ].join('\n'),
    );
    const { code, raw } = await runOnTerminal([
      'simulate',
      '--config',
      config,
      '--out',
      join(dir, 'run'),
    ]);
    assert.equal(code, 0, raw);
    assert.match(raw, new RegExp(`runs {5}${BAR.source} +\\d+% \\d/6 rounds \\| ETA `));
    const screen = renderTerminal(raw);
    assertUngarbled(screen);
    for (const strategy of ['central', 'fedavg', 'fedkd'])
      assert.ok(
        screen.some((line) =>
          new RegExp(
            `^${TIMESTAMP.source}\\[simulate\\] ${strategy} seed \\d+: completed, final accuracy`,
          ).test(line),
        ),
        `no result line for ${strategy}:\n${screen.join('\n')}`,
      );
    assert.ok(!screen.some((line) => BAR.test(line)), 'a bar was left on the screen');
    assert.ok(
      screen.some((line) => /^\| fedkd \|/.test(line)),
      'the table follows on stdout',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
