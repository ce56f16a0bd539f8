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
  const failure = await new Promise<string | undefined>((resolve) => {
    process.once('SIGINT', () => resolve(undefined));
    process.once('SIGTERM', () => resolve(undefined));
    void edge.failed.then(resolve);
  });
  await edge.close();
  if (failure === undefined) return 0;
  options.log(`edge ${edge.id}: ${failure}`, 'error');
  return 1;
}
