/**
 * `npm run results`: regenerates docs/results.md and docs/results/*.svg from
 * configs/results/ (sim/report.ts). About 15–20 minutes on 2 cores.
 */
import { generateResults } from '../sim/report.js';

const log = (message: string) =>
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
try {
  await generateResults({ log });
} catch (error) {
  process.stderr.write(`results: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
}
process.exit(process.exitCode ?? 0);
