/**
 * Adds the client's label histogram (`labelCounts`) to its join requests, so
 * the coordinator's dashboard can show each client's label skew. A decorator
 * over any FedTransport: FedClient builds the join request itself and needs no
 * change. Only counts per class leave the device, never a sample.
 */
import type { LabeledData } from '../shared/data/types.js';
import type { FedTransport } from './transport.js';

/** How many samples carry each class label: `counts[c]` for c in 0..max label. */
export function countLabels(data: Pick<LabeledData, 'y' | 'count'>): number[] {
  const counts: number[] = [];
  for (let i = 0; i < data.count; i++) {
    const label = data.y[i]!;
    while (counts.length <= label) counts.push(0);
    counts[label]! += 1;
  }
  return counts;
}

/** `transport`, with `labelCounts` added to every join request it sends. */
export function withLabelCounts(transport: FedTransport, labelCounts: number[]): FedTransport {
  return {
    connect: (handlers) => transport.connect(handlers),
    join: (request) => transport.join({ ...request, labelCounts }),
    sendUpdate: (update) => transport.sendUpdate(update),
    sendSecAgg: (message) => transport.sendSecAgg(message),
    fetchArtifact: (ref) => transport.fetchArtifact(ref),
    get connected() {
      return transport.connected;
    },
    close: () => transport.close(),
  };
}
