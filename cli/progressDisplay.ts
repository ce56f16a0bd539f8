/**
 * The terminal's one progress display. On a terminal: cli-progress bars at the
 * bottom of the screen, every log line printed above them through the display
 * (a plain write would land inside a bar line). Elsewhere: no bars, each bit of
 * progress is one ordinary log line (JSON or readable, as the logger formats).
 */
import { MultiBar, type SingleBar } from 'cli-progress';
import type { LineSink, Logger } from '../node/logger.js';
import type { Progress, ProgressTask, ProgressTaskOptions } from '../node/progress.js';

export interface ProgressDisplayOptions {
  /** Defaults to process.stderr. */
  stream?: NodeJS.WriteStream;
  /** Draw bars. Defaults to stream.isTTY. */
  interactive?: boolean;
  /** Clock for the ETA (tests). Defaults to Date.now. */
  now?: () => number;
}

/** `1 h 02 min`, `3 min 05 s`, `42 s`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** Remaining time from the pace so far: elapsed per unit done times the units left. */
export function estimateRemaining(
  startedAt: number,
  now: number,
  start: number,
  done: number,
  total: number,
): number | undefined {
  const progressed = done - start;
  if (progressed <= 0 || total <= done) return total <= done ? 0 : undefined;
  return ((now - startedAt) / progressed) * (total - done);
}

const NAME_WIDTH = 8;

export class ProgressDisplay implements Progress, LineSink {
  readonly interactive: boolean;
  private readonly stream: NodeJS.WriteStream;
  private readonly now: () => number;
  private bars: MultiBar | undefined;
  private active = 0;
  private statusBar: SingleBar | undefined;
  private lastStatusKey: string | undefined;
  private logger: Logger | undefined;

  constructor(options: ProgressDisplayOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.interactive = options.interactive ?? this.stream.isTTY === true;
    this.now = options.now ?? Date.now;
  }

  /** The logger that plain progress lines go to (the one whose sink is this display). */
  attach(logger: Logger): void {
    this.logger = logger.child({ component: 'progress' });
  }

  /** A finished log line: above the bars while there are any, else straight out. */
  write(line: string): void {
    if (this.bars) {
      this.bars.log(line.endsWith('\n') ? line : `${line}\n`);
      // Redraw now so the line is out before anything else happens (and is never lost on stop).
      this.bars.update();
    } else {
      this.stream.write(line);
    }
  }

  private multiBar(): MultiBar {
    this.bars ??= new MultiBar({
      stream: this.stream,
      format: '{name} [{bar}] {percentage}% {value}/{total} {unit} | ETA {remaining} | {info}',
      barsize: 24,
      barCompleteChar: '#',
      barIncompleteChar: '-',
      clearOnComplete: true,
      hideCursor: false,
      // Log lines force a redraw at once; bar changes wait for the next frame.
      fps: 10,
      autopadding: true,
    });
    return this.bars;
  }

  /** Drops a bar; with none left the bars are cleared away and lines go straight out again. */
  private release(bar: SingleBar): void {
    if (!this.bars) return;
    this.active -= 1;
    if (this.active > 0) {
      this.bars.remove(bar);
      return;
    }
    this.bars.stop();
    this.bars = undefined;
  }

  task(options: ProgressTaskOptions): ProgressTask {
    // The pace is measured from the first update on (a task made at its first step has none yet).
    let startedAt: number | undefined;
    let start = options.start ?? 0;
    let total = options.total;
    let done = start;
    let info = options.info ?? '';
    let finished = false;
    const remaining = () =>
      startedAt === undefined
        ? undefined
        : estimateRemaining(startedAt, this.now(), start, done, total);
    const eta = () => {
      const left = remaining();
      return left === undefined ? '…' : formatDuration(left);
    };
    const advance = (value: number) => {
      if (startedAt === undefined) {
        startedAt = this.now();
        start = value;
      }
      done = value;
    };
    if (!this.interactive) {
      let lastDecile = -1;
      const report = (force: boolean) => {
        const share = total > 0 ? done / total : 1;
        const decile = Math.floor(share * 10);
        if (!force && decile === lastDecile) return;
        lastDecile = decile;
        this.logger?.info(
          {
            task: options.name,
            done,
            total,
            etaMs: ((left) => (left === undefined ? null : Math.round(left)))(remaining()),
          },
          `${options.name} ${Math.round(share * 100)}% (${done}/${total} ${options.unit}), ETA ${eta()}${info ? ` | ${info}` : ''}`,
        );
      };
      return {
        update: (value, text) => {
          if (finished) return;
          advance(value);
          if (text !== undefined) info = text;
          report(done >= total);
        },
        setTotal: (value) => {
          total = value;
        },
        finish: () => {
          finished = true;
        },
      };
    }
    const payload = () => ({
      name: options.name.padEnd(NAME_WIDTH),
      unit: options.unit,
      info,
      // Not `eta`: cli-progress fills that one itself, in bare seconds.
      remaining: eta(),
    });
    const bars = this.multiBar();
    const bar = bars.create(total, done, payload());
    this.active += 1;
    return {
      update: (value, text) => {
        if (finished) return;
        advance(value);
        if (text !== undefined) info = text;
        // Drawn by the display's timer: a redraw per training step would flood the terminal.
        bar.update(done, payload());
      },
      setTotal: (value) => {
        if (finished || value === total) return;
        total = value;
        bar.setTotal(value);
      },
      finish: () => {
        if (finished) return;
        finished = true;
        this.release(bar);
      },
    };
  }

  status(text: string | undefined, key: string | undefined = text): void {
    if (!this.interactive) {
      if (text !== undefined && key !== this.lastStatusKey) this.logger?.info(text);
      this.lastStatusKey = key;
      return;
    }
    if (text === undefined) {
      if (this.statusBar) this.release(this.statusBar);
      this.statusBar = undefined;
      return;
    }
    if (!this.statusBar) {
      this.statusBar = this.multiBar().create(1, 0, { text }, { format: '{text}' });
      this.active += 1;
    } else this.statusBar.update(0, { text });
    this.bars?.update();
  }

  /** Clears every bar (before a summary is printed, or on exit). */
  close(): void {
    this.bars?.stop();
    this.bars = undefined;
    this.active = 0;
    this.statusBar = undefined;
  }
}
