/**
 * What a `fedistill` command writes to the terminal, set up once per command:
 * one pino logger (node/logger.ts) whose lines go through one progress
 * display (progressDisplay.ts), so log lines and bars never share a line.
 * Results (tables, summaries) go to stdout; logs and progress to stderr.
 */
import { Option, type Command } from 'commander';
import type { Log, LogFormat, LogLevel, Logger } from '../node/logger.js';
import { LOG_FORMATS, LOG_LEVELS, componentLog, createLogger } from '../node/logger.js';
import { ProgressDisplay } from './progressDisplay.js';

export interface CliOutput {
  logger: Logger;
  display: ProgressDisplay;
  /** A Log callback for one component (`[demo]`, `[coordinator]`, …). */
  log(component: string): Log;
  /** Clears the bars; call before printing results to stdout. */
  close(): void;
}

export interface OutputFlags {
  logLevel?: LogLevel;
  logFormat?: LogFormat;
  /** `--quiet`: errors only. */
  quiet?: boolean;
}

/** Adds `--log-level` and `--log-format` to a command. */
export function withLogOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--log-level <level>', 'least severe level printed')
        .choices([...LOG_LEVELS])
        .default('info'),
    )
    .addOption(
      new Option(
        '--log-format <format>',
        'auto: readable lines on a terminal, JSON lines otherwise',
      )
        .choices([...LOG_FORMATS])
        .default('auto'),
    );
}

/** The display of the command running now, so a fatal error can clear its bars first. */
let current: ProgressDisplay | undefined;

/** Clears the running command's bars (before main.ts prints a fatal error). */
export function closeOutput(): void {
  current?.close();
}

export function openOutput(flags: OutputFlags): CliOutput {
  const display = new ProgressDisplay();
  current = display;
  const logger = createLogger({
    level: flags.quiet === true ? 'error' : (flags.logLevel ?? 'info'),
    format: flags.logFormat ?? 'auto',
    terminal: process.stderr.isTTY === true,
    sink: display,
  });
  display.attach(logger);
  return {
    logger,
    display,
    log: (component) => componentLog(logger, component),
    close: () => display.close(),
  };
}
