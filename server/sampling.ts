/**
 * Which connected clients train in a round: `max(minClients, ⌈fraction·n⌉)`
 * of them, capped at n, drawn by a seeded shuffle so a run can be replayed.
 */
import type { Rng } from '../shared/data/index.js';

export function sampleClients(
  connected: readonly string[],
  fraction: number,
  minClients: number,
  rng: Rng,
): string[] {
  const wanted = Math.min(
    connected.length,
    Math.max(minClients, Math.ceil(fraction * connected.length)),
  );
  const order = [...connected].sort();
  rng.shuffle(order);
  return order.slice(0, wanted);
}

/** Updates needed for a round with `sampled` clients to count. */
export function quorumSize(sampled: number, quorum: number): number {
  return Math.max(1, Math.ceil(quorum * sampled));
}
