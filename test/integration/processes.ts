/**
 * Starting real `fedistill` CLI processes from tests, with their output kept
 * for assertions and failure messages, and a hard stop so no test hangs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI_MAIN = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

export interface CliProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; output: string }>;
  kill: () => void;
}

/** Runs `fedistill <args>`; killed after `timeoutMs` (default 5 min) if still running. */
export function runCli(args: string[], timeoutMs = 300_000): CliProcess {
  const child = spawn(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), CLI_MAIN, ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => (output += chunk));
  child.stderr?.on('data', (chunk: string) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exited = new Promise<{ code: number | null; output: string }>((resolve) => {
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
  return {
    child,
    output: () => output,
    exited,
    kill: () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * Resolves true once `pattern` appears in the process's output, false if the process exits or
 * `timeoutMs` passes first.
 */
export function outputMatches(
  cli: CliProcess,
  pattern: RegExp,
  timeoutMs: number,
): Promise<boolean> {
  return new Promise((resolve) => {
    const started = Date.now();
    const poll = setInterval(() => {
      if (pattern.test(cli.output())) finish(true);
      else if (cli.child.exitCode !== null || Date.now() - started > timeoutMs) finish(false);
    }, 50);
    const finish = (value: boolean) => {
      clearInterval(poll);
      resolve(value);
    };
  });
}
