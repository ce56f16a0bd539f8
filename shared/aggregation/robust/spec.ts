/**
 * A serialisable description of an aggregator (for config files, the CLI and
 * run records) and the factory that builds it.
 */
import { z } from 'zod';
import type { Aggregator } from './aggregator.js';
import { fedAvgAggregator } from './aggregator.js';
import { krum } from './krum.js';
import { coordinateMedian } from './median.js';
import { normClipping } from './normClipping.js';
import { trimmedMean } from './trimmedMean.js';

/** Runtime schema of {@link AggregatorSpec}; unknown keys are refused. */
export const aggregatorSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('fedavg') }),
  z.strictObject({ kind: z.literal('median') }),
  z.strictObject({ kind: z.literal('trimmed-mean'), beta: z.number().min(0).lt(0.5).optional() }),
  z.strictObject({
    kind: z.literal('krum'),
    f: z.number().int().min(0).optional(),
    m: z.number().int().min(1).optional(),
  }),
  z.strictObject({
    kind: z.literal('norm-clipping'),
    maxNorm: z.union([z.number().positive().finite(), z.literal('median')]).optional(),
    weighted: z.boolean().optional(),
  }),
]);

/** Which aggregator a run uses, with its options (each defaulting as in its factory). */
export type AggregatorSpec = z.infer<typeof aggregatorSpecSchema>;

/** Builds the aggregator a spec describes. `{ kind: 'krum', m: 3 }` is multi-Krum. */
export function createAggregator(spec: AggregatorSpec): Aggregator {
  switch (spec.kind) {
    case 'fedavg':
      return fedAvgAggregator();
    case 'median':
      return coordinateMedian();
    case 'trimmed-mean':
      return trimmedMean(spec.beta === undefined ? {} : { beta: spec.beta });
    case 'krum':
      return krum({
        ...(spec.f === undefined ? {} : { f: spec.f }),
        ...(spec.m === undefined ? {} : { m: spec.m }),
      });
    case 'norm-clipping':
      return normClipping({
        ...(spec.maxNorm === undefined ? {} : { maxNorm: spec.maxNorm }),
        ...(spec.weighted === undefined ? {} : { weighted: spec.weighted }),
      });
  }
}
