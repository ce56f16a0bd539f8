/** One line of progress per round event, for `serve` and `demo`. */
import type { CoordinatorEvent } from '../server/coordinator.js';

export function roundLine(event: CoordinatorEvent, rounds: number): string | undefined {
  if (event.type === 'round:started')
    return `round ${event.roundId}: ${event.sampled.length} clients training`;
  if (event.type === 'round:secure') {
    return event.error !== undefined
      ? `round ${event.roundId}: secure aggregation failed: ${event.error}`
      : `round ${event.roundId}: unmasked the sum of ${event.survivors}/${event.sampled} masked updates (threshold ${event.threshold})`;
  }
  if (event.type === 'client:excluded') {
    return `client ${event.clientId} excluded from the run: ${event.accusers.length} clients could not open its key shares`;
  }
  if (event.type === 'client:abstained')
    return `client ${event.clientId} abstains from the run (${event.reason}): ${event.message}`;
  if (event.type !== 'round:closed') return undefined;
  const r = event.record;
  if (r.status === 'failed' && r.note)
    return `round ${r.round}: not aggregated, the global student is unchanged: ${r.note}`;
  if (r.status === 'failed')
    return `round ${r.round}: below quorum (${r.participants}/${r.sampled} answered), not aggregated`;
  const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(2)}%`);
  return (
    `round ${r.round} (${r.modelVersion}/${rounds}): ${r.participants}/${r.sampled} updates, ` +
    `student accuracy ${pct(r.studentAccuracy)}, agreement with teacher ${pct(r.agreement)}, ` +
    `${(r.durationMs / 1000).toFixed(1)} s`
  );
}
