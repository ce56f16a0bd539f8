/**
 * The open-file limit for sections that hold thousands of sockets: every
 * connection is a file descriptor in the process that opened it and another in
 * the one that accepted it. Node cannot raise its own limit, so when the soft
 * limit is too low but the hard one allows enough, the section runs itself
 * again under `ulimit -Sn` (its children inherit the raised limit); when the
 * hard limit is too low it stops with a message saying what to change.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface FileLimits {
  /** Infinity when unlimited. */
  soft: number;
  hard: number;
}

const RERUN_MARK = 'FEDISTILL_BENCH_FILE_LIMIT_RAISED';

function parseLimit(text: string): number {
  return text === 'unlimited' ? Infinity : Number(text);
}

/** This process's soft and hard limits on open files (/proc/self/limits, else the shell's ulimit). */
export function fileLimits(): FileLimits {
  try {
    const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (line) return { soft: parseLimit(line[1]!), hard: parseLimit(line[2]!) };
  } catch {
    // not Linux: ask the shell
  }
  const shell = spawnSync('/bin/sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' });
  const [soft, hard] = (shell.stdout ?? '').trim().split('\n');
  const limits = { soft: parseLimit(soft ?? ''), hard: parseLimit(hard ?? '') };
  if (Number.isNaN(limits.soft) || Number.isNaN(limits.hard))
    throw new Error(`cannot read the open-file limit (ulimit -n): ${shell.stderr || 'no output'}`);
  return limits;
}

/**
 * Makes sure one process may hold `needed` open files. Resolves `'ok'` when
 * this process may; otherwise, when the hard limit allows, runs this same
 * script again with the soft limit raised to `needed`, waits for it, and exits
 * with its status (never resolving). Throws, naming the limit and what to
 * change, when the hard limit is below `needed`.
 */
export async function ensureFileLimit(needed: number, why: string): Promise<'ok'> {
  const { soft, hard } = fileLimits();
  if (soft >= needed) return 'ok';
  if (hard < needed || process.env[RERUN_MARK] === '1') {
    throw new Error(
      `${why} needs ${needed} open files per process, and \`ulimit -n\` allows ${soft} ` +
        `(hard limit ${hard}): raise the hard limit (as root \`ulimit -Hn ${needed}\`, ` +
        `LimitNOFILE= for a systemd unit, nofile in /etc/security/limits.conf, ` +
        `or docker run --ulimit nofile=${needed}) or run with --quick`,
    );
  }
  process.stderr.write(
    `[bench] open-file limit ${soft} < ${needed} (${why}): running again under ulimit -Sn ${needed}\n`,
  );
  const child = spawn(
    '/bin/sh',
    [
      '-c',
      'ulimit -Sn "$1" && shift && exec "$@"',
      'sh',
      String(needed),
      process.execPath,
      ...process.execArgv,
      ...process.argv.slice(1),
    ],
    { stdio: 'inherit', env: { ...process.env, [RERUN_MARK]: '1' } },
  );
  const code = await new Promise<number>((resolve) => {
    child.once('exit', (status, signal) => resolve(signal ? 1 : (status ?? 1)));
    child.once('error', () => resolve(1));
  });
  process.exit(code);
}
