/**
 * The one logger every Node component writes through (pino): levels, JSON
 * lines for machines when the output is not a terminal, short readable lines
 * (pino-pretty) on one. Components receive either the pino logger itself or a
 * `Log` callback bound to it, so server/ and sim/ stay free of any I/O choice.
 */
import { pino, stdTimeFunctions, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
/** `auto`: pretty on a terminal, JSON otherwise. */
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The levels a `Log` callback may be given. */
export type LogCallLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * One message to a component's logger, at `level` (info unless told). A plain
 * `(message) => void` is a valid Log, which is what tests pass.
 */
export type Log = (message: string, level?: LogCallLevel) => void;

/** Where finished log lines go (each ends with a newline): stderr, or a progress display above its bars. */
export interface LineSink {
  write(line: string): void;
}

export interface LoggerOptions {
  /** Defaults to info. */
  level?: LogLevel;
  /** Defaults to auto. */
  format?: LogFormat;
  /** Whether the sink is a terminal (decides `auto`, and colours). Defaults to process.stderr.isTTY. */
  terminal?: boolean;
  /** Defaults to process.stderr. */
  sink?: LineSink;
}

/** Pretty format for a terminal: `21:40:33 INFO  [demo] message`. */
function prettyLines(sink: LineSink, colorize: boolean): LineSink {
  const format = pinoPretty.prettyFactory({
    colorize,
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname,component',
    messageFormat: '{if component}[{component}] {end}{msg}',
    singleLine: true,
  });
  return { write: (line) => sink.write(format(line)) };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const sink = options.sink ?? process.stderr;
  const terminal = options.terminal ?? process.stderr.isTTY === true;
  const format = options.format ?? 'auto';
  const pretty = format === 'pretty' || (format === 'auto' && terminal);
  return pino(
    {
      level: options.level ?? 'info',
      // No pid/hostname on every line; ISO timestamps that log shippers parse.
      base: undefined,
      timestamp: stdTimeFunctions.isoTime,
    },
    pretty ? prettyLines(sink, terminal) : sink,
  );
}

/** A `Log` callback writing to `logger`. */
export function logTo(logger: Logger): Log {
  return (message, level = 'info') => logger[level](message);
}

/** A `Log` for one component: `logTo(logger.child({ component }))`. */
export function componentLog(logger: Logger, component: string): Log {
  return logTo(logger.child({ component }));
}

/** pino's numeric levels, for reading a child process's JSON lines back. */
const LEVEL_NAMES: Record<number, LogCallLevel> = {
  10: 'debug',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'error',
};

/**
 * Reads one line another fedistill process logged as JSON: its message and level,
 * or the raw line at info when it is not one of ours.
 */
export function parseLogLine(line: string): { level: LogCallLevel; message: string } {
  try {
    const value = JSON.parse(line) as { level?: unknown; msg?: unknown };
    if (typeof value === 'object' && value !== null && typeof value.msg === 'string') {
      const level = typeof value.level === 'number' ? (LEVEL_NAMES[value.level] ?? 'info') : 'info';
      return { level, message: value.msg };
    }
  } catch {
    // not JSON: a raw line (a crash trace, a tool's own output)
  }
  return { level: 'info', message: line };
}
