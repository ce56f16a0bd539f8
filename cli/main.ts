// Entry point of the `fedistill` command (bin/fedistill.js and `npm run fedistill` land here).
import { closeOutput } from './output.js';
import { buildProgram } from './program.js';

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  // Plain, on stderr: it may come before any logger exists (a bad flag or config file).
  closeOutput();
  process.stderr.write(`fedistill: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
// Sockets, timers and wasm can hold the loop open after the work is done.
process.exit(process.exitCode ?? 0);
