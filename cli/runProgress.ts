/**
 * Turns a coordinator's events into the terminal's view of a run: one log line per
 * event worth telling (roundLine.ts), a rounds bar with ETA, and a status line while
 * the coordinator waits for clients (20 s of silence otherwise).
 */
import type { CoordinatorEvent } from '../server/coordinator.js';
import type { Log } from '../node/logger.js';
import type { Progress, ProgressTask } from '../node/progress.js';
import { roundLine } from './roundLine.js';

export interface RunProgressOptions {
  rounds: number;
  /** How long the coordinator waits for `minClients` before starting with who is there. */
  waitForClientsMs: number;
  log: Log;
  progress?: Progress;
  now?: () => number;
}

export function followRun(options: RunProgressOptions): (event: CoordinatorEvent) => void {
  const now = options.now ?? Date.now;
  let rounds: ProgressTask | undefined;
  let waitingSince: number | undefined;
  let lastInfo = '';
  /** Aggregated rounds so far; before the first close, a resumed run's completed ones. */
  let aggregated: number | undefined;
  return (event) => {
    const line = roundLine(event, options.rounds);
    if (line) options.log(line.message, line.level);
    const progress = options.progress;
    if (!progress) return;
    switch (event.type) {
      case 'waiting': {
        waitingSince ??= now();
        const left = Math.max(0, options.waitForClientsMs - (now() - waitingSince));
        const base = `waiting for clients: ${event.connected}/${event.needed} connected`;
        progress.status(
          event.connected > 0
            ? `${base}; starting with those connected in ${Math.ceil(left / 1000)} s`
            : base,
          base,
        );
        return;
      }
      case 'round:started':
        waitingSince = undefined;
        progress.status(undefined);
        aggregated ??= event.roundId - 1;
        rounds ??= progress.task({
          name: 'rounds',
          total: options.rounds,
          unit: 'rounds',
          // A resumed run starts past its completed rounds.
          start: aggregated,
        });
        rounds.update(
          aggregated,
          `round ${event.roundId}: ${event.sampled.length} training${lastInfo}`,
        );
        return;
      case 'round:closed': {
        const r = event.record;
        lastInfo =
          r.studentAccuracy !== null
            ? `, last accuracy ${(r.studentAccuracy * 100).toFixed(2)}%`
            : lastInfo;
        aggregated = r.modelVersion;
        rounds?.update(r.modelVersion, `round ${r.round} ${r.status}${lastInfo}`);
        return;
      }
      case 'run:ended':
        progress.status(undefined);
        rounds?.finish();
        rounds = undefined;
        return;
      default:
        return;
    }
  };
}
