/** One log line per coordinator event worth telling the operator, for `serve` and `demo`. */
import type { CoordinatorEvent } from '../server/coordinator.js';
import type { LogCallLevel } from '../node/logger.js';

export interface EventLine {
  level: LogCallLevel;
  message: string;
}

const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(2)}%`);

export function roundLine(event: CoordinatorEvent, rounds: number): EventLine | undefined {
  switch (event.type) {
    case 'client:joined':
      return {
        level: 'info',
        message: `client ${event.clientId}${event.name ? ` (${event.name})` : ''} ${event.rejoin ? 'rejoined' : 'joined'}: ${event.platform}, ${event.backend}, ${event.numSamples} samples`,
      };
    case 'client:left':
      return { level: 'info', message: `client ${event.clientId} left` };
    case 'client:cut-off':
      return {
        level: 'warn',
        message: `cut off ${event.clientId ?? 'an unjoined connection'} after ${event.refusals} refused messages`,
      };
    case 'coordinator:fault':
      return {
        level: 'error',
        message: `coordinator fault (${event.where}), skipped: ${event.message}`,
      };
    case 'update:rejected':
      return {
        level: 'warn',
        message: `round ${event.roundId}: refused an update from ${event.clientId} (${event.code}: ${event.message})`,
      };
    case 'round:started':
      return {
        level: 'info',
        message: `round ${event.roundId}: ${event.sampled.length} clients training`,
      };
    case 'round:secure':
      return event.error !== undefined
        ? {
            level: 'warn',
            message: `round ${event.roundId}: secure aggregation failed: ${event.error}`,
          }
        : {
            level: 'info',
            message: `round ${event.roundId}: unmasked the sum of ${event.survivors}/${event.sampled} masked updates (threshold ${event.threshold})`,
          };
    case 'client:abstained':
      return {
        level: 'warn',
        message: `client ${event.clientId} abstains from the run (${event.reason}): ${event.message}`,
      };
    case 'client:excluded':
      return {
        level: 'warn',
        message: `client ${event.clientId} excluded from the run: ${event.accusers.length} clients could not open its key shares`,
      };
    case 'round:closed': {
      const r = event.record;
      if (r.status === 'failed')
        return {
          level: 'warn',
          message: `round ${r.round}: not aggregated (${r.participants}/${r.sampled} answered), the global student is unchanged${r.note ? `: ${r.note}` : ''}`,
        };
      return {
        level: 'info',
        message:
          `round ${r.round} (${r.modelVersion}/${rounds}): ${r.participants}/${r.sampled} updates, ` +
          `student accuracy ${pct(r.studentAccuracy)}, agreement with teacher ${pct(r.agreement)}, ` +
          `${(r.durationMs / 1000).toFixed(1)} s`,
      };
    }
    case 'run:ended':
      return {
        level: 'info',
        message: `run ${event.status} after ${event.roundsAggregated} aggregated rounds`,
      };
    default:
      return undefined;
  }
}
