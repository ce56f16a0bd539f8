/**
 * Every distillation term by name, as a run's `distillation` setting names
 * them. Adding a term: write its loss and its TermDefinition (term.ts) in one
 * file, then add one line to DISTILLATION_TERMS below; the schema, the CLI's
 * and config's choices and local training all read this map.
 */
import { z } from 'zod';
import { DistillationInputError } from '../errors.js';
import { responseTerm } from './distillation.js';
import { hintTerm } from './hint.js';
import { pktTerm } from './pkt.js';
import { rkdAngleTerm } from './rkdAngle.js';
import { rkdDistanceTerm } from './rkdDistance.js';
import { selfTerm } from './selfDistillation.js';
import type { DistillationFamily, TermDefinition, TermNeed } from './term.js';

export const DISTILLATION_TERMS = {
  response: responseTerm,
  hint: hintTerm,
  'rkd-distance': rkdDistanceTerm,
  'rkd-angle': rkdAngleTerm,
  pkt: pktTerm,
  self: selfTerm,
} as const;

export type DistillationTermName = keyof typeof DISTILLATION_TERMS;

/** One configured term: `{ name, weight, ...options }`, options as in the term's schema. */
export type DistillationTerm = {
  [K in DistillationTermName]: (typeof DISTILLATION_TERMS)[K] extends TermDefinition<infer T>
    ? T
    : never;
}[DistillationTermName];

export const DISTILLATION_TERM_NAMES = Object.keys(DISTILLATION_TERMS) as DistillationTermName[];

/** Most terms one run may configure (each name at most once, so six today). */
export const MAX_DISTILLATION_TERMS = 16;

/** The family of each term name. */
export function termFamily(name: DistillationTermName): DistillationFamily {
  return DISTILLATION_TERMS[name].family;
}

/** Looks a term up by name; throws DistillationInputError listing the known names. */
export function distillationTerm(name: string): TermDefinition<DistillationTerm> {
  if (!Object.hasOwn(DISTILLATION_TERMS, name)) {
    throw new DistillationInputError(
      `unknown distillation term ${JSON.stringify(name)}; known: ${DISTILLATION_TERM_NAMES.join(', ')}`,
    );
  }
  return DISTILLATION_TERMS[name as DistillationTermName] as TermDefinition<DistillationTerm>;
}

const termSchemas = Object.values(DISTILLATION_TERMS).map((d) => d.schema);

/** One term of the `distillation` setting, any registered name. */
export const distillationTermSchema = z.discriminatedUnion(
  'name',
  termSchemas as unknown as [z.ZodObject, ...z.ZodObject[]],
  {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? `unknown distillation term ${JSON.stringify(
            (issue.input as { name?: unknown } | undefined)?.name,
          )}; known: ${DISTILLATION_TERM_NAMES.join(', ')}`
        : undefined,
  },
) as unknown as z.ZodType<DistillationTerm>;

/**
 * A run's `distillation` setting: the terms of every client's local loss, each with its weight,
 * each name at most once. The local loss is Σ weight·term, plus CE on private data with weight 1
 * when no `response` term is listed (the response term carries its own α·CE). Absent, a run
 * trains with `[{ name: 'response', weight: 1 }]`: α·CE + (1−α)·T²·KL, as before terms existed.
 */
export const distillationSchema = z
  .array(distillationTermSchema)
  .min(1)
  .max(MAX_DISTILLATION_TERMS)
  .superRefine((terms, ctx) => {
    const seen = new Set<string>();
    terms.forEach((term, i) => {
      if (seen.has(term.name)) {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'name'],
          message: `term ${JSON.stringify(term.name)} is listed twice`,
        });
      }
      seen.add(term.name);
    });
  });

/** The setting a run gets when it names no terms. */
export const DEFAULT_DISTILLATION: readonly DistillationTerm[] = [{ name: 'response', weight: 1 }];

/**
 * Parses an untrusted `distillation` setting (a config file, a round config). Throws
 * DistillationInputError whose message names each bad field as `field[i].option`.
 */
export function parseDistillation(value: unknown, field = 'distillation'): DistillationTerm[] {
  const result = distillationSchema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues
      .map((issue) => `${pathText(field, issue.path)}: ${issue.message}`)
      .join('; ');
    throw new DistillationInputError(`invalid ${field}: ${issues}`);
  }
  return result.data;
}

/** What the terms need beyond private data (see TermNeed). */
export function distillationNeeds(terms: readonly DistillationTerm[]): Set<TermNeed> {
  const needs = new Set<TermNeed>();
  for (const term of terms) for (const need of distillationTerm(term.name).needs) needs.add(need);
  return needs;
}

function pathText(field: string, path: readonly PropertyKey[]): string {
  let text = field;
  for (const key of path) text += typeof key === 'number' ? `[${key}]` : `.${String(key)}`;
  return text;
}
