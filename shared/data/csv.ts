import { DatasetError } from '../errors.js';
import type { LabeledData } from './types.js';

export interface CsvOptions {
  /**
   * The label column: an index (negative counts from the end, -1 = last) or a
   * header name (needs a header row), or `null` for a CSV of features only
   * (unlabelled proxy inputs). Defaults to 0.
   */
  labelColumn: number | string | null;
  /**
   * Whether the first non-empty line is a header. `'auto'`: it is when any of
   * its cells is not a number, or when `labelColumn` is a name. Defaults to 'auto'.
   */
  header: boolean | 'auto';
  /** Every feature is divided by this (255 for 0..255 pixels). Defaults to 1. */
  normalize: number;
  /** Cell separator, one character. Defaults to ','. */
  delimiter: string;
}

// Plain decimal numbers only: no '', 'NaN', 'Infinity', '0x1F' that Number() would take.
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function cells(line: string, delimiter: string): string[] {
  return line.split(delimiter).map((cell) => {
    const trimmed = cell.trim();
    return trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')
      ? trimmed.slice(1, -1).trim()
      : trimmed;
  });
}

/** Rows of a CSV: features, and labels when it has a label column. */
export interface CsvData {
  readonly x: Float32Array;
  readonly count: number;
  readonly featureSize: number;
  /** Absent when `labelColumn` is null. */
  readonly y?: Uint8Array | Int32Array;
}

/** {@link parseCsvData} for a CSV that must have labels. */
export function parseCsv(text: string, options: Readonly<Partial<CsvOptions>> = {}): LabeledData {
  if (options.labelColumn === null) {
    throw new DatasetError('parseCsv needs a label column; use parseCsvData for features only');
  }
  const { x, y, count } = parseCsvData(text, options);
  return { x, y: y as Uint8Array | Int32Array, count };
}

/**
 * Parses numeric CSV text (one sample per line: a label column and feature
 * columns) into {@link LabeledData}. Blank lines are skipped; `\r\n` and a
 * leading BOM are accepted; quoted cells may not contain the delimiter.
 * Throws DatasetError with the 1-based line number for ragged rows, cells that
 * are not plain decimal numbers, and labels that are not non-negative integers.
 */
export function parseCsvData(text: string, options: Readonly<Partial<CsvOptions>> = {}): CsvData {
  const delimiter = options.delimiter ?? ',';
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new DatasetError(`CSV delimiter must be one character other than quote or newline`);
  }
  const divisor = options.normalize ?? 1;
  if (!(divisor > 0) || !Number.isFinite(divisor)) {
    throw new DatasetError(`CSV normalize divisor must be a finite number > 0, got ${divisor}`);
  }
  const labelColumn = options.labelColumn === undefined ? 0 : options.labelColumn;
  const lines = (text.startsWith('\uFEFF') ? text.slice(1) : text).split(/\r?\n/);
  let lineIndex = lines.findIndex((line) => line.trim() !== '');
  if (lineIndex < 0) throw new DatasetError('CSV has no rows');

  const first = cells(lines[lineIndex] as string, delimiter);
  const headerOption = options.header ?? 'auto';
  const hasHeader =
    headerOption === 'auto'
      ? typeof labelColumn === 'string' || first.some((cell) => !NUMBER.test(cell))
      : headerOption;
  const width = first.length;
  const widthLine = lineIndex + 1;

  let labelIndex: number;
  if (labelColumn === null) {
    labelIndex = -1;
  } else if (typeof labelColumn === 'string') {
    if (!hasHeader) {
      throw new DatasetError(
        `CSV labelColumn '${labelColumn}' is a name but there is no header row`,
      );
    }
    labelIndex = first.indexOf(labelColumn);
    if (labelIndex < 0) {
      const shown = first.slice(0, 8).join(', ') + (first.length > 8 ? ', …' : '');
      throw new DatasetError(
        `CSV header (line ${widthLine}) has no column '${labelColumn}': ${shown}`,
      );
    }
  } else {
    if (!Number.isInteger(labelColumn) || labelColumn >= width || labelColumn < -width) {
      throw new DatasetError(
        `CSV labelColumn ${labelColumn} is outside the ${width} columns of line ${widthLine}`,
      );
    }
    labelIndex = labelColumn < 0 ? width + labelColumn : labelColumn;
  }
  if (width < (labelIndex < 0 ? 1 : 2)) {
    throw new DatasetError(`CSV line ${widthLine} has ${width} column; need a label and features`);
  }
  if (hasHeader) lineIndex++;

  const featureSize = labelIndex < 0 ? width : width - 1;
  // Rows ≤ remaining lines: preallocate instead of growing a number[] (8 bytes a value).
  const maxRows = lines.length - lineIndex;
  const x = new Float32Array(maxRows * featureSize);
  const labels = new Int32Array(maxRows);
  let count = 0;
  let maxLabel = 0;
  for (; lineIndex < lines.length; lineIndex++) {
    const line = lines[lineIndex] as string;
    if (line.trim() === '') continue;
    const lineNo = lineIndex + 1;
    const row = cells(line, delimiter);
    if (row.length !== width) {
      throw new DatasetError(
        `CSV line ${lineNo} has ${row.length} cells, expected ${width} (as on line ${widthLine})`,
      );
    }
    for (let c = 0; c < width; c++) {
      const cell = row[c] as string;
      if (!NUMBER.test(cell)) {
        const shown = cell.length > 20 ? `${cell.slice(0, 20)}…` : cell;
        throw new DatasetError(`CSV line ${lineNo}, column ${c + 1}: '${shown}' is not a number`);
      }
      const value = Number(cell);
      if (c === labelIndex) {
        if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
          throw new DatasetError(
            `CSV line ${lineNo}: label '${cell}' is not a non-negative integer class index`,
          );
        }
        labels[count] = value;
        if (value > maxLabel) maxLabel = value;
      } else {
        const scaled = value / divisor;
        if (!Number.isFinite(scaled) || Math.abs(scaled) > 3.4028234663852886e38) {
          throw new DatasetError(`CSV line ${lineNo}, column ${c + 1}: ${cell} overflows float32`);
        }
        x[count * featureSize + (labelIndex < 0 || c < labelIndex ? c : c - 1)] = scaled;
      }
    }
    count++;
  }
  if (count === 0) throw new DatasetError('CSV has a header but no data rows');
  const features = count === maxRows ? x : x.slice(0, count * featureSize);
  if (labelIndex < 0) return { x: features, count, featureSize };
  const y = maxLabel < 256 ? Uint8Array.from(labels.subarray(0, count)) : labels.slice(0, count);
  return { x: features, y, count, featureSize };
}
