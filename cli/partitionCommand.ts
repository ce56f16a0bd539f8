/**
 * `fedistill partition`: deals a data source out to per-client folders (IDX pairs that
 * `fedistill join --data` reads), IID, Dirichlet label skew or label shards, optionally
 * after subsampling and with a cap per client, and prints the label-skew summary.
 */
import { existsSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { loadDataSource, requireLabels, writeIdxDataset } from '../node/data/index.js';
import {
  capPartSizes,
  createRng,
  deriveSeed,
  describePartition,
  labelSkew,
  partitionByScheme,
  subset,
} from '../shared/data/index.js';
import type { PartitionScheme } from '../shared/data/index.js';
import type { DataFlags } from './dataFlags.js';
import { addDataFlags, pickDataFlags, sourceOptions } from './dataFlags.js';
import type { Log } from '../node/logger.js';
import { openOutput } from './output.js';
import type { OutputFlags } from './output.js';

export interface PartitionOptions {
  /** Any data source (docs/data.md); it must be labelled. */
  data: string;
  /** Output folder; must be absent or empty. */
  out: string;
  clients: number;
  scheme: PartitionScheme;
  /** Samples drawn from the source first (seeded); defaults to all. */
  subsample?: number;
  /** Largest client folder; bigger parts keep a seeded random subset. Defaults to no cap. */
  maxPerClient?: number;
  /** Seed of the subsample, the partition and the cap. Defaults to 0. */
  seed?: number;
  dataFlags?: DataFlags;
  log: Log;
}

export interface PartitionResult {
  folders: string[];
  sizes: number[];
  meanSkew: number;
  table: string;
}

function int(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${value} is not an integer ≥ ${min}`);
    return n;
  };
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${value} is not a number > 0`);
  return n;
}

/** Writes the client folders and partition.json; returns what it wrote. */
export function partitionToFolders(options: PartitionOptions): PartitionResult {
  if (existsSync(options.out) && readdirSync(options.out).length > 0) {
    throw new Error(`--out ${options.out} is not empty; give a new or empty folder`);
  }
  const seed = options.seed ?? 0;
  const loaded = loadDataSource(options.data, sourceOptions(options.dataFlags ?? {}));
  let data = requireLabels(loaded, '--data');
  if (options.subsample !== undefined) {
    if (options.subsample > data.count) {
      throw new Error(
        `--subsample ${options.subsample} is more than the ${data.count} samples of ${loaded.origin}`,
      );
    }
    const order = createRng(seed).shuffle(Int32Array.from({ length: data.count }, (_, i) => i));
    data = subset(data, order.subarray(0, options.subsample));
  }
  // The same stream a simulation deals its clients from (shared/data/seeds.ts).
  const rng = createRng(deriveSeed(seed, 'partition', 17));
  let parts = partitionByScheme(data.y, options.clients, options.scheme, rng);
  if (options.maxPerClient !== undefined) parts = capPartSizes(parts, options.maxPerClient, rng);
  const skew = labelSkew(data.y, parts, Math.max(loaded.numClasses, 1));
  mkdirSync(options.out, { recursive: true });
  const width = String(options.clients - 1).length;
  const folders = parts.map((rows, c) => {
    const folder = join(options.out, `client-${String(c).padStart(Math.max(3, width), '0')}`);
    writeIdxDataset(folder, subset(data, rows), loaded.inputShape);
    return folder;
  });
  const table = describePartition(skew);
  writeFileSync(
    join(options.out, 'partition.json'),
    JSON.stringify(
      {
        source: loaded.origin,
        samples: data.count,
        inputShape: loaded.inputShape,
        numClasses: loaded.numClasses,
        ...(loaded.classNames ? { classNames: loaded.classNames } : {}),
        clients: options.clients,
        scheme: options.scheme,
        ...(options.subsample !== undefined ? { subsample: options.subsample } : {}),
        ...(options.maxPerClient !== undefined ? { maxPerClient: options.maxPerClient } : {}),
        seed,
        meanSkew: skew.mean,
        maxSkew: skew.max,
        folders: folders.map((f, c) => ({
          folder: f,
          samples: skew.sizes[c],
          skew: skew.perClient[c],
          classes: Array.from(skew.histograms[c] ?? []),
        })),
      },
      null,
      2,
    ),
  );
  options.log(
    `partitioned ${data.count} samples of ${loaded.origin} into ${options.clients} folders under ${options.out} ` +
      `(${describeScheme(options.scheme)}, seed ${seed})`,
  );
  return { folders, sizes: [...skew.sizes], meanSkew: skew.mean, table };
}

function describeScheme(scheme: PartitionScheme): string {
  return scheme.kind === 'iid'
    ? 'IID'
    : scheme.kind === 'dirichlet'
      ? `Dirichlet α = ${scheme.alpha}`
      : `${scheme.perClient} label shards per client`;
}

export function addPartitionCommand(program: Command): void {
  const command = program
    .command('partition')
    .description(
      'deal a data source out to per-client folders (IID, Dirichlet, shards) and print the label skew',
    )
    .requiredOption(
      '--data <source>',
      'labelled data: a folder, folder:split, fashion-mnist:train, mnist',
    )
    .requiredOption(
      '--out <dir>',
      'output folder (new or empty): client-000/, client-001/, …, partition.json',
    )
    .requiredOption('--clients <n>', 'client folders to write', int(1))
    .addOption(
      new Option('--scheme <kind>', 'how labels are dealt')
        .choices(['iid', 'dirichlet', 'shards'])
        .default('iid'),
    )
    .option(
      '--alpha <a>',
      'Dirichlet concentration: 0.1 very skewed, 100 near IID (default 0.5)',
      positive,
    )
    .option(
      '--min-per-client <n>',
      'Dirichlet: redraw while a client has fewer (default 1)',
      int(0),
    )
    .option('--shards-per-client <k>', 'shards: label-sorted shards per client (default 2)', int(1))
    .option('--subsample <n>', 'draw this many samples of the source first (default all)', int(1))
    .option('--max-per-client <n>', 'cap each client folder at n samples (default no cap)', int(1))
    .option('--seed <n>', 'seed of subsample, partition and cap (default 0)', int(0))
    .option('--quiet', 'print nothing but errors')
    .action((flags: Record<string, unknown>) => {
      const scheme: PartitionScheme =
        flags.scheme === 'dirichlet'
          ? {
              kind: 'dirichlet',
              alpha: (flags.alpha as number | undefined) ?? 0.5,
              ...(flags.minPerClient !== undefined
                ? { minPerClient: flags.minPerClient as number }
                : {}),
            }
          : flags.scheme === 'shards'
            ? { kind: 'shards', perClient: (flags.shardsPerClient as number | undefined) ?? 2 }
            : { kind: 'iid' };
      for (const [flag, applies] of [
        ['alpha', scheme.kind === 'dirichlet'],
        ['minPerClient', scheme.kind === 'dirichlet'],
        ['shardsPerClient', scheme.kind === 'shards'],
      ] as const) {
        if (flags[flag] !== undefined && !applies) {
          const name = flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
          throw new InvalidArgumentError(`--${name} does not apply to --scheme ${scheme.kind}`);
        }
      }
      const result = partitionToFolders({
        data: flags.data as string,
        out: flags.out as string,
        clients: flags.clients as number,
        scheme,
        ...(flags.subsample !== undefined ? { subsample: flags.subsample as number } : {}),
        ...(flags.maxPerClient !== undefined ? { maxPerClient: flags.maxPerClient as number } : {}),
        ...(flags.seed !== undefined ? { seed: flags.seed as number } : {}),
        dataFlags: pickDataFlags(flags),
        log: openOutput(flags as OutputFlags).log('partition'),
      });
      process.stdout.write(`${result.table}\n`);
    });
  addDataFlags(command);
}
