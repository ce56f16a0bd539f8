/**
 * A closed round's outcome: the new global student evaluated on the held-out
 * test split (accuracy, loss, agreement with the teacher), checkpointed, and
 * the round's record — participants, traffic, losses, ε — written to SQLite.
 */
import type * as tf from '@tensorflow/tfjs';
import type { LabeledData } from '../../shared/data/types.js';
import { setFlatWeights } from '../../shared/models/index.js';
import { matchRate } from '../../shared/predictions/index.js';
import { evaluate } from '../../shared/training/index.js';
import type { CheckpointWriter } from '../checkpoints.js';
import type { RoundRecord, RunStore } from '../store.js';
import type { RoundAggregate } from '../strategies/index.js';
import { meanOf } from '../strategies/index.js';
import type { OpenRound } from './openRound.js';

export interface StudentEvaluation {
  accuracy: number;
  loss: number;
  /** Share of test samples where the student's top-1 class is the teacher's. */
  agreement: number;
}

export interface OutcomeParts {
  runId: string;
  store: RunStore;
  checkpoints: CheckpointWriter;
  test: LabeledData;
  /** Teacher's top-1 class on each test sample. */
  teacherTestPredictions: Int32Array;
  teacherTestAccuracy: number;
}

export class RoundOutcomes {
  constructor(private readonly parts: OutcomeParts) {}

  /** Loads `weights` into `model`, evaluates it on the test split and checkpoints it. */
  async adopt(
    model: tf.LayersModel,
    weights: Float32Array,
    roundId: number,
  ): Promise<StudentEvaluation> {
    setFlatWeights(model, weights);
    const result = evaluate(model, this.parts.test);
    await this.parts.checkpoints.save(model, roundId);
    return {
      accuracy: result.accuracy,
      loss: result.loss,
      agreement: matchRate(result.predictions, this.parts.teacherTestPredictions),
    };
  }

  /** The round's record, written to SQLite. */
  record(
    round: OpenRound,
    aggregate: RoundAggregate,
    student: StudentEvaluation | undefined,
    modelVersion: number,
    previous: RoundRecord | undefined,
  ): RoundRecord {
    const endedAt = Date.now();
    const aggregated = aggregate.failure === undefined;
    const participants = aggregate.participants;
    const record: RoundRecord = {
      runId: this.parts.runId,
      round: round.id,
      status: aggregated ? 'aggregated' : 'failed',
      startedAt: round.startedAt,
      endedAt,
      modelVersion,
      sampled: round.sampled.size,
      participants,
      rejected: round.rejected,
      studentAccuracy:
        student?.accuracy ?? (aggregated ? (aggregate.clientAccuracy ?? null) : null),
      studentLoss: student?.loss ?? null,
      teacherAccuracy: this.parts.teacherTestAccuracy,
      agreement: student?.agreement ?? null,
      bytesDownPerClient: round.bytesDown,
      bytesUpPerClient: participants > 0 ? round.bytesUp / participants : 0,
      durationMs: endedAt - round.startedAt,
      meanClientLoss: meanOf(round.clientLosses),
      // A failed round spends no privacy: the figure so far stands.
      privacyEpsilon: aggregated
        ? (aggregate.privacyEpsilon ?? null)
        : (previous?.privacyEpsilon ?? null),
    };
    this.parts.store.recordRound(record);
    return record;
  }
}
