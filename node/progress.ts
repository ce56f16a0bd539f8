/**
 * What long-running work reports its progress to (teacher training, rounds,
 * simulation runs, waiting for clients). The CLI supplies a display that draws
 * bars on a terminal and prints plain lines elsewhere (cli/progressDisplay.ts);
 * library callers pass nothing and see nothing.
 */

export interface ProgressTaskOptions {
  /** Short label, e.g. 'teacher' or 'rounds'. */
  name: string;
  total: number;
  /** What is counted, e.g. 'steps' or 'rounds'. */
  unit: string;
  /** Where counting starts (a resumed run's completed rounds). Defaults to 0. */
  start?: number;
  info?: string;
}

export interface ProgressTask {
  update(done: number, info?: string): void;
  setTotal(total: number): void;
  /** The task is over: its bar goes away (the caller logs the outcome). */
  finish(): void;
}

export interface Progress {
  task(options: ProgressTaskOptions): ProgressTask;
  /**
   * One status line such as "waiting for clients: 2/4 connected"; undefined clears it.
   * `key` names the state: off a terminal a line is printed only when the key changes
   * (the text may carry a countdown that changes every second). Defaults to the text.
   */
  status(text: string | undefined, key?: string): void;
}
