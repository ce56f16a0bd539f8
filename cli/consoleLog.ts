/** Human-readable log lines on stderr, so stdout stays free for results. */
export type Log = (message: string) => void;

export function consoleLog(prefix: string, quiet = false): Log {
  return (message) => {
    if (quiet) return;
    const time = new Date().toISOString().slice(11, 19);
    process.stderr.write(`${time} ${prefix} ${message}\n`);
  };
}
