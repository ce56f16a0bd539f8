/**
 * `npm run results`: regenerates docs/results.md and docs/results/*.svg from
 * configs/results/ (sim/report.ts). About 15–20 minutes on an idle 2-core machine.
 * `npm run results -- --only fashion-mnist` regenerates only the Fashion-MNIST section;
 * `--reuse` takes a simulation's saved result when its config is unchanged.
 */
import { parseArgs } from 'node:util';
import { RESULT_SECTIONS, generateResults } from '../sim/report.js';
import type { ResultSection } from '../sim/report.js';
import { openOutput } from '../cli/output.js';

const { values } = parseArgs({
  options: { only: { type: 'string' }, reuse: { type: 'boolean' } },
});
if (values.only !== undefined && !(RESULT_SECTIONS as readonly string[]).includes(values.only)) {
  process.stderr.write(
    `results: --only takes ${RESULT_SECTIONS.join(' or ')}, got ${values.only}\n`,
  );
  process.exit(2);
}

const output = openOutput({ logLevel: 'info', logFormat: 'auto' });
try {
  await generateResults({
    log: output.log('results'),
    progress: output.display,
    ...(values.only ? { only: values.only as ResultSection } : {}),
    ...(values.reuse ? { reuse: true } : {}),
  });
} catch (error) {
  output.close();
  output.logger.error({ err: error }, `results: ${(error as Error).message}`);
  process.exitCode = 1;
}
output.close();
process.exit(process.exitCode ?? 0);
