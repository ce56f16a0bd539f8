/**
 * Every strategy by name: the one list that the config schemas (coordinator
 * and simulation), the CLI's `--strategy` choices, the coordinator and the
 * docs read. A new strategy is one file exporting a StrategyDefinition, listed
 * here — or, from outside the project (a plug-in, a test), `registerStrategy`.
 */
import { dsFlStrategy } from './dsFl.js';
import { fedAvgStrategy } from './fedAvg.js';
import { fedBuffStrategy } from './fedBuff.js';
import { fedDfStrategy } from './fedDf.js';
import { fedKdStrategy } from './fedKd.js';
import { fedMdStrategy } from './fedMd.js';
import { localStrategy } from './local.js';
import type { StrategyDefinition } from './strategy.js';

const BUILT_IN: readonly StrategyDefinition[] = [
  fedKdStrategy,
  fedAvgStrategy,
  fedBuffStrategy,
  fedDfStrategy,
  fedMdStrategy,
  dsFlStrategy,
  localStrategy,
];

const registry = new Map<string, StrategyDefinition>(BUILT_IN.map((s) => [s.name, s]));

const NAME = /^[a-z][a-z0-9-]{0,39}$/;

/** Adds a strategy; its name must be new (lower case, digits, dashes). */
export function registerStrategy(definition: StrategyDefinition): void {
  if (!NAME.test(definition.name))
    throw new Error(
      `strategy name ${JSON.stringify(definition.name)} must be lower case letters, digits and dashes`,
    );
  if (registry.has(definition.name))
    throw new Error(`a strategy named ${definition.name} is already registered`);
  registry.set(definition.name, definition);
}

/** The registered strategies' names, built-ins first, in registration order. */
export function strategyNames(): string[] {
  return [...registry.keys()];
}

export function findStrategy(name: string): StrategyDefinition | undefined {
  return registry.get(name);
}

/** @throws Error naming the registered strategies when `name` is not one of them. */
export function getStrategy(name: string): StrategyDefinition {
  const definition = registry.get(name);
  if (!definition)
    throw new Error(`unknown strategy ${name}; registered: ${strategyNames().join(', ')}`);
  return definition;
}
