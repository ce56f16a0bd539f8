/**
 * The open-file limit for sections that hold thousands of sockets: every
 * connection is a file descriptor in the process that opened it and another in
 * the one that accepted it. Node raises its own soft limit to the hard limit
 * when it starts (checked here: `ulimit -Sn 300` still gives a Node process
 * the hard limit), so every Node process a section starts may hold as many as
 * the hard limit allows, and the hard limit is what a section checks; only root
 * can raise it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface FileLimits {
  /** Infinity when unlimited. */
  soft: number;
  hard: number;
}

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
 * Throws, naming the limit and how to raise it (or `smaller`, a smaller run),
 * unless one process may hold `needed` open files.
 */
export function checkFileLimit(needed: number, why: string, smaller?: string): FileLimits {
  const limits = fileLimits();
  if (limits.soft >= needed) return limits;
  throw new Error(
    `${why} needs ${needed} open files per process, and this machine allows ${limits.soft} ` +
      `(\`ulimit -n\`, hard limit ${limits.hard}): raise the hard limit (as root ` +
      `\`ulimit -Hn ${needed}\` in the shell that runs the bench, LimitNOFILE= for a systemd unit, ` +
      `nofile in /etc/security/limits.conf, or docker run --ulimit nofile=${needed})` +
      (smaller !== undefined ? `, or ${smaller}` : ''),
  );
}
