/**
 * The `fedistill` command line: serve, join, demo, simulate. The one place that wires
 * server, client and data loading together from flags and config files.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_TRAINING } from '../server/config.js';
import { strategyNames } from '../server/strategies/index.js';
import { consoleLog } from './consoleLog.js';
import { runDemo } from './demoCommand.js';
import { runJoin } from './joinCommand.js';
import { addDataFlags, pickDataFlags } from './dataFlags.js';
import { addPartitionCommand } from './partitionCommand.js';
import { runSimulate } from './simulateCommand.js';
import { readConfigFile, runServe } from './serveCommand.js';

function int(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`${value} is not an integer`);
  return n;
}

function num(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${value} is not a number`);
  return n;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Builds the command tree; `main.ts` runs it, tests inspect it. */
export function buildProgram(): Command {
  const program = new Command('fedistill')
    .description(
      'Federated on-device knowledge distillation: a coordinator with a teacher, students on edge devices.',
    )
    .showHelpAfterError();

  program
    .command('serve')
    .description('run a coordinator: teacher, soft labels, rounds of federated distillation')
    .option('--config <file>', 'JSON or YAML file of coordinator settings (flags override it)')
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option('--port <port>', 'port, 0 for any free one (default 8080)', int)
    .option('--data-dir <dir>', 'SQLite, checkpoints and caches (default .fedistill)')
    .option('--rounds <n>', 'rounds to aggregate (default 10)', int)
    .option('--min-clients <n>', 'fewest clients a round starts with (default 2)', int)
    .option('--fraction <f>', 'fraction of connected clients sampled per round (default 1)', num)
    .option(
      '--wait-for-clients <seconds>',
      'wait this long for --min-clients, then start with who is there (default 60)',
      num,
    )
    .option('--round-timeout <seconds>', 'deadline for updates (default 120)', num)
    .option('--quorum <f>', 'share of sampled clients that must answer (default 0.5)', num)
    .option('--token <token>', 'join token clients must present (repeatable)', collect)
    .option(
      '--tokens-file <file>',
      'per-client tokens: JSON {"name":"token"} or name:token lines; each binds one client',
    )
    .option(
      '--admin-token <token>',
      'bearer token for /api/admin/stop and /api/admin/export (≥ 16 characters)',
    )
    .option(
      '--teacher <model.json>',
      'teacher model (tfjs layers or graph format); default: train one on --teacher-data or MNIST',
    )
    .addOption(
      new Option('--teacher-outputs <kind>', 'what the teacher emits')
        .choices(['auto', 'logits', 'probabilities'])
        .default('auto'),
    )
    .option(
      '--teacher-spec <spec>',
      'default teacher architecture: mlp:H1,H2 | cnn | spec.json (default mlp:1200,1200)',
    )
    .option('--teacher-epochs <n>', 'epochs for the default teacher (default 8)', int)
    .option(
      '--student <spec>',
      'student architecture: mlp:H1,H2 | cnn | spec.json (default mlp:128)',
    )
    .option(
      '--proxy-data <source>',
      'public proxy inputs, labels not needed: a folder, folder:split, fashion-mnist:train (docs/data.md); default: embedded MNIST split',
    )
    .option('--test-data <source>', 'labelled test data for evaluation (needed with --proxy-data)')
    .option(
      '--teacher-data <source>',
      'labelled data to train the default teacher on (with --proxy-data and --test-data)',
    )
    .option('--backend <name>', 'force a tfjs backend (tensorflow, wasm, cpu)')
    .option('--epochs <n>', 'local epochs per round', int)
    .option('--batch-size <n>', 'local batch size', int)
    .option('--lr <rate>', 'local learning rate', num)
    .option('--temperature <T>', 'distillation temperature', num)
    .option('--alpha <a>', 'weight of the hard-label loss, 0..1', num)
    .addOption(
      new Option('--update-precision <p>', 'precision of client updates').choices([
        'float32',
        'float16',
        'int8',
      ]),
    )
    .option('--soft-label-top-k <k>', 'keep k classes per soft label (0 = all)', int)
    .addOption(
      new Option('--soft-label-precision <p>', 'soft label precision').choices([
        'float32',
        'float16',
        'uint8',
      ]),
    )
    .option('--seed <n>', 'seed for sampling and initial weights', int)
    .option('--resume', "continue the data directory's last run if it did not complete")
    .option(
      '--secure-aggregation',
      'clients mask their updates so the coordinator learns only their sum (fedkd, fedavg)',
    )
    .addOption(
      new Option('--strategy <name>', 'how knowledge moves (docs/strategies.md)').choices(
        strategyNames(),
      ),
    )
    .action(async (flags: Record<string, unknown>) => {
      const file = typeof flags.config === 'string' ? readConfigFile(flags.config) : {};
      const fileTraining = (file.training ?? {}) as Record<string, unknown>;
      const training: Record<string, unknown> = {
        ...DEFAULT_TRAINING,
        ...fileTraining,
        ...(flags.epochs !== undefined ? { epochs: flags.epochs } : {}),
        ...(flags.batchSize !== undefined ? { batchSize: flags.batchSize } : {}),
        ...(flags.lr !== undefined ? { learningRate: flags.lr } : {}),
        ...(flags.temperature !== undefined ? { temperature: flags.temperature } : {}),
        ...(flags.alpha !== undefined ? { alpha: flags.alpha } : {}),
        ...(flags.updatePrecision !== undefined ? { updatePrecision: flags.updatePrecision } : {}),
      };
      const pick = (key: string, value: unknown) => (value !== undefined ? { [key]: value } : {});
      const config: Record<string, unknown> = {
        ...file,
        ...pick('host', flags.host),
        ...pick('port', flags.port),
        ...pick('dataDir', flags.dataDir),
        ...pick('rounds', flags.rounds),
        ...pick('minClients', flags.minClients),
        ...pick('fraction', flags.fraction),
        ...pick(
          'waitForClientsMs',
          flags.waitForClients !== undefined
            ? Math.round((flags.waitForClients as number) * 1000)
            : undefined,
        ),
        ...pick(
          'roundTimeoutMs',
          flags.roundTimeout !== undefined
            ? Math.round((flags.roundTimeout as number) * 1000)
            : undefined,
        ),
        ...pick('quorum', flags.quorum),
        ...pick('tokens', flags.token),
        ...pick('tokensFile', flags.tokensFile),
        ...pick('adminToken', flags.adminToken),
        ...pick('softLabelTopK', flags.softLabelTopK),
        ...pick('softLabelPrecision', flags.softLabelPrecision),
        ...pick('seed', flags.seed),
        ...pick('resume', flags.resume),
        ...pick('strategy', flags.strategy),
        ...(flags.secureAggregation === true
          ? { secureAggregation: file.secureAggregation ?? {} }
          : {}),
        training,
      };
      process.exitCode = await runServe({
        config,
        log: consoleLog('[coordinator]'),
        progress: process.stderr.isTTY === true,
        ...(pick('backend', flags.backend) as { backend?: string }),
        ...(pick('teacher', flags.teacher) as { teacher?: string }),
        teacherOutputs: flags.teacherOutputs as 'auto' | 'logits' | 'probabilities',
        ...(pick('teacherSpec', flags.teacherSpec) as { teacherSpec?: string }),
        ...(pick('teacherEpochs', flags.teacherEpochs) as { teacherEpochs?: number }),
        ...(pick('student', flags.student) as { student?: string }),
        ...(pick('proxyData', flags.proxyData) as { proxyData?: string }),
        ...(pick('testData', flags.testData) as { testData?: string }),
        ...(pick('teacherData', flags.teacherData) as { teacherData?: string }),
        dataFlags: pickDataFlags(flags),
      });
    });
  addDataFlags(program.commands.at(-1)!);

  program
    .command('join')
    .description('run a Node edge client that trains the student on local private data')
    .requiredOption('--server <url>', 'coordinator URL, e.g. http://127.0.0.1:8080')
    .requiredOption(
      '--data <source|demo:I/N>',
      'private data: a folder (IDX pair or CSV), folder:split, a named dataset, or demo shard I of N',
    )
    .option(
      '--validation-data <source>',
      'labelled held-out data: the client reports its model’s accuracy on it every round',
    )
    .option(
      '--validation-fraction <f>',
      'hold out this share of the private data (seeded) as validation data instead',
      num,
    )
    .option('--validation-seed <n>', 'seed of the --validation-fraction hold-out (default 0)', int)
    .option('--token <token>', 'join token')
    .option('--backend <name>', 'force a tfjs backend (tensorflow, wasm, cpu)')
    .option(
      '--cache-dir <dir>',
      'where downloaded artifacts are kept (default .fedistill/client-cache)',
    )
    .option('--name <name>', 'a name shown on the coordinator')
    .option(
      '--data-seed <n>',
      'seed of the embedded MNIST split (demo shards only; default 42)',
      int,
    )
    .option('--demo-alpha <a>', 'Dirichlet alpha of the demo shards (default 0.5)', num)
    .option(
      '--protocol-version <n>',
      'announce another protocol version (for testing refusals)',
      int,
    )
    .option('--quiet', 'print nothing but errors')
    .action(async (flags: Record<string, unknown>) => {
      const pick = <T>(key: string, value: T | undefined) =>
        value !== undefined ? { [key]: value } : {};
      process.exitCode = await runJoin({
        server: flags.server as string,
        data: flags.data as string,
        ...pick('token', flags.token as string | undefined),
        ...pick('backend', flags.backend as string | undefined),
        ...pick('cacheDir', flags.cacheDir as string | undefined),
        ...pick('name', flags.name as string | undefined),
        ...pick('dataSeed', flags.dataSeed as number | undefined),
        ...pick('demoAlpha', flags.demoAlpha as number | undefined),
        ...pick('protocolVersion', flags.protocolVersion as number | undefined),
        ...pick('validationData', flags.validationData as string | undefined),
        ...pick('validationFraction', flags.validationFraction as number | undefined),
        ...pick('validationSeed', flags.validationSeed as number | undefined),
        dataFlags: pickDataFlags(flags),
        log: consoleLog(
          `[client${flags.name ? ` ${flags.name as string}` : ''}]`,
          flags.quiet === true,
        ),
      });
    });
  addDataFlags(program.commands.at(-1)!);

  addPartitionCommand(program);

  program
    .command('demo')
    .description(
      'a coordinator and N client processes distilling on real MNIST digits, then a summary',
    )
    .option('--clients <n>', 'client processes', int, 4)
    .option('--rounds <n>', 'federated rounds', int, 8)
    .option('--data-dir <dir>', 'where the run is kept', '.fedistill/demo')
    .option('--epochs <n>', 'local epochs per round', int)
    .option('--teacher-epochs <n>', 'epochs for the teacher (default 8)', int)
    .option('--teacher-spec <spec>', 'teacher architecture (default mlp:1200,1200)')
    .option('--student <spec>', 'student architecture (default mlp:128)')
    .option('--alpha <a>', 'Dirichlet alpha of the client shards (default 0.5)', num)
    .option('--backend <name>', 'force a tfjs backend')
    .option('--verbose', "show the clients' log lines")
    .option('--secure-aggregation', 'the coordinator learns only the sum of the updates')
    .action(async (flags: Record<string, unknown>) => {
      const pick = <T>(key: string, value: T | undefined) =>
        value !== undefined ? { [key]: value } : {};
      const summary = await runDemo({
        clients: flags.clients as number,
        rounds: flags.rounds as number,
        dataDir: flags.dataDir as string,
        ...pick('epochs', flags.epochs as number | undefined),
        ...pick('teacherEpochs', flags.teacherEpochs as number | undefined),
        ...pick('teacherSpec', flags.teacherSpec as string | undefined),
        ...pick('student', flags.student as string | undefined),
        ...pick('alpha', flags.alpha as number | undefined),
        ...pick('backend', flags.backend as string | undefined),
        verbose: flags.verbose === true,
        secureAggregation: flags.secureAggregation === true,
        log: consoleLog('[demo]'),
        progress: process.stderr.isTTY === true,
      });
      process.exitCode = summary.status === 'completed' ? 0 : 1;
    });

  program
    .command('simulate')
    .description(
      'many virtual clients on worker threads, one or more strategies, metrics + summary + plot (docs/simulation.md)',
    )
    .option('--config <file>', 'JSON or YAML simulation config (every field has a default)')
    .option('--out <dir>', 'run directory (default <outDir>/<name>-<time>)')
    .option('--workers <n>', 'worker threads, 0 = main thread only (default: one per core)', int)
    .option('--rounds <n>', "override the config's rounds", int)
    .option('--quiet', 'print nothing but errors and the final table')
    .action(async (flags: Record<string, unknown>) => {
      const pick = <T>(key: string, value: T | undefined) =>
        value !== undefined ? { [key]: value } : {};
      const result = await runSimulate({
        ...pick('config', flags.config as string | undefined),
        ...pick('out', flags.out as string | undefined),
        ...pick('workers', flags.workers as number | undefined),
        ...pick('rounds', flags.rounds as number | undefined),
        log: consoleLog('[simulate]', flags.quiet === true),
        progress: process.stderr.isTTY === true && flags.quiet !== true,
      });
      process.exitCode = result.runs.some((r) => r.status !== 'completed') ? 1 : 0;
    });

  return program;
}
