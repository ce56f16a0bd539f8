/**
 * A client's round as a pipeline of steps — load the global weights, train,
 * privatise, mask, deliver — each a function from the work so far to the work
 * after it. A step that has nothing to do for a round (no weights travel, no
 * privacy, no secure aggregation) passes the work through unchanged.
 */
import type * as tf from '@tensorflow/tfjs';
import type { LabeledData, ProxyData } from '../../shared/data/types.js';
import type { ModelSpec } from '../../shared/models/index.js';
import type { RoundStart, TrainMetrics, UpdateMessage } from '../../shared/protocol/index.js';
import type { FedClientEvent } from '../events.js';

/** What a round has produced so far. */
export interface RoundWork {
  readonly round: RoundStart;
  /** The weights training starts from (the global student, or this client's own model). */
  start?: Float32Array;
  /** Set by training. */
  trained?: { numSamples: number; metrics: TrainMetrics };
  /** The trained weights minus `start`, when weights travel; privatised in place of the raw one. */
  delta?: Float32Array;
  /** A secure round's masked input, in place of the delta. */
  masked?: { masked: Uint32Array; session: string };
  /** What goes to the coordinator. */
  update?: UpdateMessage;
}

/** What the steps work with: this client's model, data and the round's means of communication. */
export interface RoundEnv {
  readonly model: tf.LayersModel;
  readonly spec: ModelSpec;
  /** Parameters of the global student (the length of weights and deltas). */
  readonly numParams: number;
  readonly data: LabeledData;
  readonly validation?: LabeledData | undefined;
  /** The proxy set this round trains on (teacher soft labels, or a blend with the consensus). */
  readonly proxy?: ProxyData | undefined;
  /** This client's seed (batch order, dropout), mixed with the round id. */
  readonly seed: number;
  readonly signal: AbortSignal;
  emit(event: FedClientEvent): void;
}

export type RoundStep = (work: RoundWork, env: RoundEnv) => Promise<RoundWork> | RoundWork;

/** Runs the steps in order, each on the work the one before left. */
export async function runRound(
  round: RoundStart,
  steps: readonly RoundStep[],
  env: RoundEnv,
): Promise<RoundWork> {
  let work: RoundWork = { round };
  // Each step heeds env.signal itself: training and masking stop, delivery reports the abort.
  for (const step of steps) work = await step(work, env);
  return work;
}
