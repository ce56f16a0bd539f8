/**
 * The `fedistill` command line: serve, join, demo, simulate, worker. The one place that wires
 * server, client and data loading together from flags and config files.
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_TRAINING } from '../server/config.js';
import { strategyNames } from '../server/strategies/index.js';
import { parseDistillationFlag } from './distillationFlag.js';
import type { OutputFlags } from './output.js';
import { openOutput, withLogOptions } from './output.js';
import { runDemo } from './demoCommand.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, runJoin } from './joinCommand.js';
import { addDataFlags, pickDataFlags } from './dataFlags.js';
import { addPartitionCommand } from './partitionCommand.js';
import { runSimulate } from './simulateCommand.js';
import { runWorker } from './workerCommand.js';
import { readConfigFile, runServe } from './serveCommand.js';
import { runEdge } from './edgeCommand.js';
import { checkEdgeSecret } from '../server/edges/envelope.js';
import { fedBuffFromFlags, parseStalenessFlag } from './fedBuffFlags.js';

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

/** `--linger-ms`: milliseconds or `forever`. */
function lingerMs(value: string): number | 'forever' {
  if (value === 'forever') return 'forever';
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(
      `${value} is neither a whole number of milliseconds ≥ 0 nor "forever"`,
    );
  return n;
}

/** `--min-group-size`: k, a whole number ≥ 2. */
function minGroupSize(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 2)
    throw new InvalidArgumentError(
      `${value} is not a whole number ≥ 2: one client's "sum" would be its own update`,
    );
  return n;
}

/** `serve`'s secure aggregation settings: the config file's, with `--min-group-size` over them. */
function secureAggregationFromFlags(
  fromFile: unknown,
  flags: Record<string, unknown>,
): { secureAggregation?: unknown } {
  if (flags.minGroupSize !== undefined && flags.secureAggregation !== true)
    throw new InvalidArgumentError('--min-group-size needs --secure-aggregation');
  if (flags.secureAggregation !== true) return {};
  return {
    secureAggregation: {
      ...((fromFile ?? {}) as Record<string, unknown>),
      ...(flags.minGroupSize !== undefined ? { minGroupSize: flags.minGroupSize } : {}),
    },
  };
}

/** The edge secret from its flag, else from FEDISTILL_EDGE_SECRET (kept out of `ps` listings). */
function edgeSecret(flag: unknown): string {
  const secret = typeof flag === 'string' ? flag : process.env.FEDISTILL_EDGE_SECRET;
  return checkEdgeSecret(secret);
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** This package's version, from its package.json. */
export function packageVersion(): string {
  const file = new URL('../package.json', import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

/** Builds the command tree; `main.ts` runs it, tests inspect it. */
export function buildProgram(): Command {
  const program = new Command('fedistill')
    .description(
      'Federated on-device knowledge distillation: a coordinator with a teacher, students on edge devices.',
    )
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    // A flag error is one line and where to look, not the whole help.
    .showHelpAfterError("(run 'fedistill --help' for usage)");

  withLogOptions(program.command('serve'))
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
    .option(
      '--linger-ms <ms|forever>',
      'keep the dashboard and HTTP API up this long after the run ends (default 0)',
      lingerMs,
    )
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
      '--metrics-port <port>',
      'serve Prometheus /metrics on this port, without a token (default: on --port behind --admin-token)',
      int,
    )
    .option('--metrics-host <host>', 'address of the metrics port (default 127.0.0.1)')
    .option(
      '--teacher <file>',
      'teacher model: a tfjs model.json (layers or graph) or an .onnx file; default: train one on --teacher-data or MNIST',
    )
    .option(
      '--teacher-feature-layer <name>',
      'teacher layer (tfjs) or tensor (ONNX) whose activations feature distillation reads; checked at start',
    )
    .addOption(
      new Option(
        '--teacher-input-layout <layout>',
        'layout of an .onnx teacher image input: nchw transposes channels-last data rows (PyTorch); nhwc feeds them as they are',
      )
        .choices(['nchw', 'nhwc'])
        .default('nchw'),
    )
    .addOption(
      new Option(
        '--teacher-provider <name>',
        'ONNX Runtime execution provider for an .onnx teacher',
      )
        .choices(['auto', 'cuda', 'cpu'])
        .default('auto'),
    )
    .addOption(
      new Option(
        '--teacher-runtime <runtime>',
        "what computes a tfjs teacher's soft labels and features: auto (ONNX Runtime CPU when the model converts and matches tfjs, else tfjs), onnx (or fail), wasm (tfjs)",
      )
        .choices(['auto', 'onnx', 'wasm'])
        .default('auto'),
    )
    .addOption(
      new Option('--teacher-outputs <kind>', 'what the teacher emits')
        .choices(['auto', 'logits', 'probabilities'])
        .default('auto'),
    )
    .option(
      '--teacher-spec <spec>',
      'default teacher architecture: mlp | cnn (image data) | mlp:H1,H2 | spec.json (default mlp)',
    )
    .option(
      '--teacher-size <n>',
      'default teacher size: mlp hidden width (default 1200), cnn first-block filters (default 32)',
      int,
    )
    .option('--teacher-epochs <n>', 'epochs for the default teacher (default 8)', int)
    .option('--teacher-lr <rate>', 'learning rate of the default teacher (default 0.001)', num)
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
    .option(
      '--distillation <terms>',
      'local loss terms: response, hint, rkd-distance, rkd-angle, pkt, self, as name[=weight],… or a JSON array (docs/strategies.md)',
      parseDistillationFlag,
    )
    .addOption(
      new Option('--teacher-feature-precision <p>', 'precision teacher features travel in').choices(
        ['float32', 'float16', 'uint8'],
      ),
    )
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
    .option(
      '--min-group-size <k>',
      "with --secure-aggregation and --redis: an edge's group (or the master's own) of fewer sampled clients sits the round out (default 3, at least 2)",
      minGroupSize,
    )
    .addOption(
      new Option('--strategy <name>', 'how knowledge moves (docs/strategies.md)').choices(
        strategyNames(),
      ),
    )
    .option(
      '--redis <url>',
      'aggregate over `fedistill edge` processes through this Redis server (fedavg, fedkd, fedbuff; docs/scaling.md)',
    )
    .option(
      '--edge-secret <secret>',
      'with --redis: the secret edges sign with (or FEDISTILL_EDGE_SECRET)',
    )
    .option('--edge-cluster <name>', 'with --redis: names the Redis streams (default "default")')
    .option(
      '--edge-partial-timeout <seconds>',
      "with --redis: wait this long after a round's close for the edges' partial sums (default 15)",
      num,
    )
    .option(
      '--redis-outage-limit <seconds>',
      'with --redis: Redis away this long mid-run stops the run, resumable with --resume (default 120)',
      num,
    )
    .option('--buffer-size <K>', 'fedbuff: updates per aggregation', int)
    .option('--max-staleness <n>', 'fedbuff: refuse updates trained more versions ago', int)
    .option(
      '--staleness <s>',
      'fedbuff: staleness weighting, polynomial[:a] (1/(1+τ)^a), hinge[:a,b] or constant',
      parseStalenessFlag,
    )
    .option('--server-lr <rate>', 'fedbuff: server learning rate η_g', num)
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
        ...(flags.distillation !== undefined ? { distillation: flags.distillation } : {}),
      };
      const fileFeatures = (file.teacherFeatures ?? {}) as Record<string, unknown>;
      const teacherFeatures = {
        ...fileFeatures,
        ...(flags.teacherFeatureLayer !== undefined ? { layer: flags.teacherFeatureLayer } : {}),
        ...(flags.teacherFeaturePrecision !== undefined
          ? { precision: flags.teacherFeaturePrecision }
          : {}),
      };
      const pick = (key: string, value: unknown) => (value !== undefined ? { [key]: value } : {});
      const fedbuff = fedBuffFromFlags(file.fedbuff, flags);
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
        ...pick('lingerAfterRunMs', flags.lingerMs),
        ...pick('tokens', flags.token),
        ...pick('tokensFile', flags.tokensFile),
        ...pick('adminToken', flags.adminToken),
        ...pick('metricsPort', flags.metricsPort),
        ...pick('metricsHost', flags.metricsHost),
        ...pick('softLabelTopK', flags.softLabelTopK),
        ...pick('softLabelPrecision', flags.softLabelPrecision),
        ...pick('seed', flags.seed),
        ...pick('resume', flags.resume),
        ...pick('strategy', flags.strategy),
        ...secureAggregationFromFlags(file.secureAggregation, flags),
        training,
        ...(fedbuff ? { fedbuff } : {}),
        ...(Object.keys(teacherFeatures).length > 0 ? { teacherFeatures } : {}),
      };
      const output = openOutput(flags as OutputFlags);
      process.exitCode = await runServe({
        config,
        log: output.log('coordinator'),
        progress: output.display,
        beforeResults: output.close,
        ...(pick('backend', flags.backend) as { backend?: string }),
        ...(pick('teacher', flags.teacher) as { teacher?: string }),
        teacherOutputs: flags.teacherOutputs as 'auto' | 'logits' | 'probabilities',
        ...(pick('teacherSpec', flags.teacherSpec) as { teacherSpec?: string }),
        ...(pick('teacherEpochs', flags.teacherEpochs) as { teacherEpochs?: number }),
        ...(pick('teacherSize', flags.teacherSize) as { teacherSize?: number }),
        ...(pick('teacherLearningRate', flags.teacherLr) as { teacherLearningRate?: number }),
        ...(pick('teacherFeatureLayer', flags.teacherFeatureLayer) as {
          teacherFeatureLayer?: string;
        }),
        teacherProvider: flags.teacherProvider as 'auto' | 'cuda' | 'cpu',
        teacherRuntime: flags.teacherRuntime as 'auto' | 'onnx' | 'wasm',
        teacherInputLayout: flags.teacherInputLayout as 'nchw' | 'nhwc',
        ...(pick('student', flags.student) as { student?: string }),
        ...(pick('proxyData', flags.proxyData) as { proxyData?: string }),
        ...(pick('testData', flags.testData) as { testData?: string }),
        ...(pick('teacherData', flags.teacherData) as { teacherData?: string }),
        dataFlags: pickDataFlags(flags),
        ...(typeof flags.redis === 'string'
          ? {
              edges: {
                redis: flags.redis,
                secret: edgeSecret(flags.edgeSecret),
                ...pick('cluster', flags.edgeCluster),
                ...pick(
                  'partialTimeoutMs',
                  flags.edgePartialTimeout !== undefined
                    ? Math.round((flags.edgePartialTimeout as number) * 1000)
                    : undefined,
                ),
                ...pick(
                  'outageLimitMs',
                  flags.redisOutageLimit !== undefined
                    ? Math.round((flags.redisOutageLimit as number) * 1000)
                    : undefined,
                ),
              },
            }
          : {}),
      });
    });
  addDataFlags(program.commands.at(-1)!);

  withLogOptions(program.command('edge'))
    .description(
      'run an edge aggregator for `fedistill serve --redis`: clients join here, their updates reach the master as one partial sum per round',
    )
    .requiredOption('--redis <url>', "the master's Redis server")
    .option('--edge-secret <secret>', "the master's --edge-secret (or FEDISTILL_EDGE_SECRET)")
    .option('--edge-cluster <name>', 'the master\'s --edge-cluster (default "default")')
    .option('--id <name>', 'this edge, unique in the cluster (default host-pid-random)')
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option('--port <port>', 'port, 0 for any free one (default 8081)', int)
    .option('--token <token>', 'join token clients must present (repeatable)', collect)
    .option(
      '--redis-outage-limit <seconds>',
      'Redis away this long mid-run ends the edge with status 1 (default 120)',
      num,
    )
    .addHelpText(
      'after',
      '\nExit codes: 0 stopped, 1 an error (Redis unreachable at start or away past --redis-outage-limit, a bad secret or flag).',
    )
    .action(async (flags: Record<string, unknown>) => {
      const pick = (key: string, value: unknown) => (value !== undefined ? { [key]: value } : {});
      const output = openOutput(flags as OutputFlags);
      process.exitCode = await runEdge({
        redis: flags.redis as string,
        secret: edgeSecret(flags.edgeSecret),
        ...pick('cluster', flags.edgeCluster),
        ...pick('id', flags.id),
        ...pick('host', flags.host),
        port: (flags.port as number | undefined) ?? 8081,
        ...pick('tokens', flags.token),
        ...pick(
          'outageLimitMs',
          flags.redisOutageLimit !== undefined
            ? Math.round((flags.redisOutageLimit as number) * 1000)
            : undefined,
        ),
        log: output.log('edge'),
      });
    });

  withLogOptions(program.command('join'))
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
      '--student <spec>',
      "this client's own student (mlp:H1,H2, cnn or a spec JSON file) where no weights travel: fedmd, dsfl, local",
    )
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
    .option(
      '--connect-timeout <seconds>',
      `keep retrying an unreachable coordinator this long, then exit 4 (default ${DEFAULT_CONNECT_TIMEOUT_MS / 1000})`,
      num,
    )
    .option('--quiet', 'print nothing but errors (= --log-level error)')
    .addHelpText(
      'after',
      "\nExit codes: 0 the run ended, 1 an error, 2 refused by the coordinator, 3 the data do not fit the\nrun's student (the coordinator is told), 4 coordinator unreachable within --connect-timeout.",
    )
    .action(async (flags: Record<string, unknown>) => {
      const pick = <T>(key: string, value: T | undefined) =>
        value !== undefined ? { [key]: value } : {};
      if (flags.connectTimeout !== undefined && !((flags.connectTimeout as number) > 0))
        throw new InvalidArgumentError('--connect-timeout must be a positive number of seconds');
      const output = openOutput(flags as OutputFlags);
      process.exitCode = await runJoin({
        server: flags.server as string,
        data: flags.data as string,
        ...pick('token', flags.token as string | undefined),
        ...pick('student', flags.student as string | undefined),
        ...pick('backend', flags.backend as string | undefined),
        ...pick('cacheDir', flags.cacheDir as string | undefined),
        ...pick('name', flags.name as string | undefined),
        ...pick('dataSeed', flags.dataSeed as number | undefined),
        ...pick('demoAlpha', flags.demoAlpha as number | undefined),
        ...pick('protocolVersion', flags.protocolVersion as number | undefined),
        ...pick(
          'connectTimeoutMs',
          flags.connectTimeout !== undefined
            ? Math.round((flags.connectTimeout as number) * 1000)
            : undefined,
        ),
        ...pick('validationData', flags.validationData as string | undefined),
        ...pick('validationFraction', flags.validationFraction as number | undefined),
        ...pick('validationSeed', flags.validationSeed as number | undefined),
        dataFlags: pickDataFlags(flags),
        log: output.log(`client${flags.name ? ` ${flags.name as string}` : ''}`),
      });
    });
  addDataFlags(program.commands.at(-1)!);

  addPartitionCommand(program);

  withLogOptions(program.command('demo'))
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
    .option(
      '--linger-ms <ms|forever>',
      'keep the dashboard up this long after the run (default 60000 on a terminal, else 0)',
      lingerMs,
    )
    .action(async (flags: Record<string, unknown>) => {
      const pick = <T>(key: string, value: T | undefined) =>
        value !== undefined ? { [key]: value } : {};
      const output = openOutput(flags as OutputFlags);
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
        lingerMs:
          (flags.lingerMs as number | 'forever' | undefined) ??
          (process.stdout.isTTY === true ? 60_000 : 0),
        log: output.log('demo'),
        logger: output.logger,
        logLevel: (flags as OutputFlags).logLevel ?? 'info',
        progress: output.display,
        beforeResults: output.close,
      });
      process.exitCode = summary.status === 'completed' ? 0 : 1;
    });

  withLogOptions(program.command('simulate'))
    .description(
      'many virtual clients on worker threads, one or more strategies, metrics + summary + plot (docs/simulation.md)',
    )
    .option('--config <file>', 'JSON or YAML simulation config (every field has a default)')
    .option('--out <dir>', 'run directory (default <outDir>/<name>-<time>)')
    .option('--workers <n>', 'worker threads, 0 = main thread only (default: one per core)', int)
    .option('--rounds <n>', "override the config's rounds", int)
    .option(
      '--redis <url>',
      'train the clients on `fedistill worker --redis <url>` processes instead of threads (docs/scaling.md)',
    )
    .option(
      '--wait-for-workers <seconds>',
      'with --redis: how long to wait for a first worker (default 60)',
      num,
    )
    .option('--quiet', 'print nothing but errors and the final table (= --log-level error)')
    .action(async (flags: Record<string, unknown>) => {
      const pick = <T>(key: string, value: T | undefined) =>
        value !== undefined ? { [key]: value } : {};
      const output = openOutput(flags as OutputFlags);
      const result = await runSimulate({
        ...pick('config', flags.config as string | undefined),
        ...pick('out', flags.out as string | undefined),
        ...pick('workers', flags.workers as number | undefined),
        ...pick('rounds', flags.rounds as number | undefined),
        ...pick('redis', flags.redis as string | undefined),
        ...pick(
          'waitForWorkersMs',
          flags.waitForWorkers !== undefined ? (flags.waitForWorkers as number) * 1000 : undefined,
        ),
        log: output.log('simulate'),
        ...(flags.quiet === true ? {} : { progress: output.display }),
        beforeResults: output.close,
      });
      process.exitCode = result.runs.some((r) => r.status !== 'completed') ? 1 : 0;
    });

  program
    .command('worker')
    .description(
      'train the virtual clients of `fedistill simulate --redis <url>` on this host, until stopped',
    )
    .requiredOption('--redis <url>', 'the Redis server the simulation puts its jobs on')
    .option('--concurrency <n>', 'jobs trained at once (default 1: wasm uses one core)', int)
    .option('--backend <name>', 'tfjs backend to force (must match the simulation’s)')
    .option(
      '--lock-ms <ms>',
      'how long a job stays locked without renewal; a dead worker’s job returns after it (default 30000)',
      int,
    )
    .option(
      '--give-up-after <seconds>',
      'exit (status 1) when Redis has been unreachable this long (default: wait forever)',
      num,
    )
    .option('--quiet', 'print nothing but errors')
    .action(async (flags: Record<string, unknown>) => {
      const pick = <T>(key: string, value: T | undefined) =>
        value !== undefined ? { [key]: value } : {};
      await runWorker({
        ...pick(
          'giveUpAfterMs',
          flags.giveUpAfter !== undefined ? (flags.giveUpAfter as number) * 1000 : undefined,
        ),
        redis: flags.redis as string,
        ...pick('concurrency', flags.concurrency as number | undefined),
        ...pick('backend', flags.backend as string | undefined),
        ...pick('lockMs', flags.lockMs as number | undefined),
        log: openOutput(flags as OutputFlags).log('worker'),
      });
    });

  for (const command of program.commands)
    command.showHelpAfterError(`(run 'fedistill ${command.name()} --help' for its options)`);
  return program;
}
