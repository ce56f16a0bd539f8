/**
 * The CLI's own messages, from a real `fedistill` process: `--version`, and a flag error that is
 * one line plus a pointer to the command's --help, not the whole help.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { runCli } from '../../integration/processes.js';

const version = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

test('--version prints the package version', async () => {
  const { code, output } = await runCli(['--version'], 60_000).exited;
  assert.equal(code, 0, output);
  assert.equal(output.trim(), version);
});

test('a flag error is one line and a pointer to --help', async () => {
  for (const [args, error, pointer] of [
    [
      ['join', '--server', 'http://127.0.0.1:1', '--data', 'x', '--no-such-flag'],
      "error: unknown option '--no-such-flag'",
      "(run 'fedistill join --help' for its options)",
    ],
    [
      ['serve', '--port', 'eighty'],
      "error: option '--port <port>' argument 'eighty' is invalid. eighty is not an integer",
      "(run 'fedistill serve --help' for its options)",
    ],
    [['frobnicate'], "error: unknown command 'frobnicate'", "(run 'fedistill --help' for usage)"],
  ] as const) {
    const { code, output } = await runCli([...args], 60_000).exited;
    assert.equal(code, 1, output);
    assert.deepEqual(output.trim().split('\n'), [error, pointer]);
  }
});
