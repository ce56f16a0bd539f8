/**
 * `fedistill edge`: an edge aggregator in front of `fedistill serve --redis`:
 * it serves clients until stopped (SIGINT/SIGTERM), folding their updates into
 * one partial sum per round for the master (docs/scaling.md).
 */
import type { Log } from '../node/logger.js';
import type { EdgeOptions } from '../server/edges/edgeServer.js';
import { startEdge } from '../server/edges/edgeServer.js';

export async function runEdge(options: Omit<EdgeOptions, 'log'> & { log: Log }): Promise<number> {
  const edge = await startEdge(options);
  // The URL on stdout as well, for scripts and tests that start edges on port 0.
  process.stdout.write(`edge ${edge.id} listening on ${edge.url}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await edge.close();
  return 0;
}
