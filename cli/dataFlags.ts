/**
 * The data options every command shares (`--csv-label-column`, `--csv-normalize`,
 * `--csv-shape`, `--csv-delimiter`, `--image-channels`, `--classes`) and how a command loads a data
 * source with them.
 */
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import type { DataSourceOptions, ImageChannels, LoadedData } from '../node/data/index.js';
import { loadDataSource } from '../node/data/index.js';
import type { CsvOptions } from '../shared/data/csv.js';
import { DatasetError } from '../shared/errors.js';

export interface DataFlags {
  /** CSV label column: an index (negative from the end), a header name, or `none`. Defaults to 0. */
  csvLabelColumn?: string;
  /** CSV features are divided by this (255 for 0..255 pixels). Defaults to 1. */
  csvNormalize?: number;
  /** Shape of one CSV row's features, e.g. [28, 28, 1]. Defaults to flat. */
  csvShape?: number[];
  /** CSV cell separator. Defaults to ','. */
  csvDelimiter?: string;
  /** Channels of image-folder rows: 1, 3 or auto (1 when every image is grey). Defaults to auto. */
  imageChannels?: ImageChannels;
  /** The run's class names in label order, for image class folders. Defaults to each folder's own sorted names. */
  classes?: string[];
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${value} is not a number > 0`);
  return n;
}

/** `28,28,1` → [28, 28, 1]. */
export function parseShape(value: string): number[] {
  const dims = value.split(/[,x×]/).map((d) => Number(d.trim()));
  if (dims.length === 0 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new InvalidArgumentError(`${value} is not a shape like 28,28,1`);
  }
  return dims;
}

/** Adds the CSV options to a command that reads data sources. */
export function addDataFlags(command: Command): Command {
  return command
    .option(
      '--csv-label-column <col>',
      'CSV label column: index (-1 = last), header name, or none (default 0)',
    )
    .option(
      '--csv-normalize <divisor>',
      'divide CSV features by this, e.g. 255 for pixels (default 1)',
      positiveNumber,
    )
    .option('--csv-shape <h,w,c>', 'shape of one CSV row, e.g. 28,28,1 (default flat)', parseShape)
    .option('--csv-delimiter <char>', 'CSV cell separator (default ,)')
    .addOption(
      new Option(
        '--image-channels <n>',
        'channels of PNG/JPEG folder images: 1 (grey), 3 (RGB), auto = 1 when all are grey (default auto)',
      ).choices(['auto', '1', '3']),
    )
    .option(
      '--classes <names>',
      "the run's class names in label order, comma-separated: image class folders take these indices (a folder lacking a class keeps the other labels; one not named is an error). Default: each folder's own sorted names",
      parseClassNames,
    );
}

/** `cat,dog` → ['cat', 'dog']. */
export function parseClassNames(value: string): string[] {
  const names = value.split(',').map((name) => name.trim());
  if (names.some((name) => name === ''))
    throw new InvalidArgumentError(`${value} is not a list of class names like cat,dog,horse`);
  return names;
}

/** The data flags from commander's parsed options. */
export function pickDataFlags(flags: Record<string, unknown>): DataFlags {
  return {
    ...(typeof flags.csvLabelColumn === 'string' ? { csvLabelColumn: flags.csvLabelColumn } : {}),
    ...(typeof flags.csvNormalize === 'number' ? { csvNormalize: flags.csvNormalize } : {}),
    ...(Array.isArray(flags.csvShape) ? { csvShape: flags.csvShape as number[] } : {}),
    ...(typeof flags.csvDelimiter === 'string' ? { csvDelimiter: flags.csvDelimiter } : {}),
    ...(typeof flags.imageChannels === 'string'
      ? {
          imageChannels:
            flags.imageChannels === 'auto' ? 'auto' : (Number(flags.imageChannels) as 1 | 3),
        }
      : {}),
    ...(Array.isArray(flags.classes) ? { classes: flags.classes as string[] } : {}),
  };
}

function csvOptions(flags: DataFlags): Partial<CsvOptions> {
  const column = flags.csvLabelColumn;
  const labelColumn =
    column === undefined
      ? undefined
      : column === 'none'
        ? null
        : /^-?\d+$/.test(column)
          ? Number(column)
          : column;
  return {
    ...(labelColumn !== undefined ? { labelColumn } : {}),
    ...(flags.csvNormalize !== undefined ? { normalize: flags.csvNormalize } : {}),
    ...(flags.csvDelimiter !== undefined ? { delimiter: flags.csvDelimiter } : {}),
  };
}

/** Loader options for a source read with these flags. */
export function sourceOptions(
  flags: DataFlags,
  labels: 'required' | 'optional' = 'required',
): Partial<DataSourceOptions> {
  return {
    csv: csvOptions(flags),
    ...(flags.csvShape ? { csvShape: flags.csvShape } : {}),
    ...(flags.imageChannels !== undefined ? { imageChannels: flags.imageChannels } : {}),
    ...(flags.classes !== undefined ? { classes: flags.classes } : {}),
    labels,
  };
}

/**
 * Public proxy inputs: labels are not needed. An IDX images file without labels is
 * taken as it is; a CSV without `--csv-label-column` is read as features only when its
 * width is exactly the samples' size (`featureSize`, known from the test data), and as
 * label + features otherwise.
 */
export function loadProxySource(
  spec: string,
  dataFlags: DataFlags,
  featureSize: number,
): LoadedData {
  // A proxy's labels are never used: the run's class names do not apply to it.
  const { classes: _unused, ...flags } = dataFlags;
  if (flags.csvLabelColumn !== undefined)
    return loadDataSource(spec, sourceOptions(flags, 'optional'));
  const unlabelled = sourceOptions(flags, 'optional');
  try {
    const features = loadDataSource(spec, {
      ...unlabelled,
      csv: { ...unlabelled.csv, labelColumn: null },
    });
    const size = features.inputShape.reduce((a, b) => a * b, 1);
    if (features.y !== undefined || size === featureSize) return features;
  } catch (error) {
    if (!(error instanceof DatasetError)) throw error;
    // A CSV whose extra column is a label may not fit a declared shape; try it labelled.
  }
  return loadDataSource(spec, unlabelled);
}
