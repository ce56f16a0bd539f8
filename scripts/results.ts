/**
 * `npm run results`: regenerates docs/results.md and docs/results/*.svg from
 * configs/results/ (sim/report.ts). About 15–20 minutes on 2 cores.
 */
import { generateResults } from '../sim/report.js';
import { openOutput } from '../cli/output.js';

const output = openOutput({ logLevel: 'info', logFormat: 'auto' });
try {
  await generateResults({ log: output.log('results'), progress: output.display });
} catch (error) {
  output.close();
  output.logger.error({ err: error }, `results: ${(error as Error).message}`);
  process.exitCode = 1;
}
output.close();
process.exit(process.exitCode ?? 0);
