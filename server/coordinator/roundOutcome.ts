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

  /** Loads `weights` into `model` and evaluates it on the test split. */
  evaluate(model: tf.LayersModel, weights: Float32Array): StudentEvaluation {
    setFlatWeights(model, weights);
    const result = evaluate(model, this.parts.test);
    return {
      accuracy: result.accuracy,
      loss: result.loss,
      agreement: matchRate(result.predictions, this.parts.teacherTestPredictions),
    };
  }

  /** Checkpoints the (verified) global student of round `roundId`. */
  async checkpoint(model: tf.LayersModel, roundId: number): Promise<void> {
    await this.parts.checkpoints.save(model, roundId);
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
      // An asynchronous round sends a model per update answered, not one per sampled client.
      sampled: round.modelsSent ?? round.sampled.size,
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
      // Why it failed: below quorum, nothing to unmask, or its result refused by the model guard.
      note: aggregate.failure ?? aggregate.note ?? null,
      ...(aggregate.staleness
        ? { meanStaleness: aggregate.staleness.mean, maxStaleness: aggregate.staleness.max }
        : {}),
    };
    this.parts.store.recordRound(record);
    return record;
  }
}
