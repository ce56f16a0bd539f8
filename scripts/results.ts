/**
 * `npm run results`: regenerates docs/results.md and docs/results/*.svg from
 * configs/results/ (sim/report.ts). About 15–20 minutes on an idle 2-core machine.
 * `npm run results -- --only fashion-mnist` regenerates only the Fashion-MNIST section;
 * `--reuse` takes a simulation's saved result when its config is unchanged.
 */
import { parseArgs } from 'node:util';
import { generateResults } from '../sim/report.js';

const { values } = parseArgs({
  options: { only: { type: 'string' }, reuse: { type: 'boolean' } },
});
if (values.only !== undefined && values.only !== 'fashion-mnist') {
  process.stderr.write(`results: --only takes fashion-mnist, got ${values.only}\n`);
  process.exit(2);
}

const log = (message: string) =>
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
try {
  await generateResults({
    log,
    ...(values.only ? { only: 'fashion-mnist' as const } : {}),
    ...(values.reuse ? { reuse: true } : {}),
  });
} catch (error) {
  process.stderr.write(`results: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
}
process.exit(process.exitCode ?? 0);
