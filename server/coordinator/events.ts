/**
 * What a coordinator reports while it runs (dashboards, progress displays,
 * metrics, tests subscribe to these) and what a finished run returns.
 */
import type { ErrorCode } from '../../shared/protocol/index.js';
import type { RoundRecord } from '../store.js';

export type CoordinatorEvent =
  | {
      type: 'client:joined';
      clientId: string;
      platform: string;
      backend: string;
      numSamples: number;
      name: string | null;
      rejoin: boolean;
    }
  | { type: 'client:left'; clientId: string }
  /** The client will take part in no round (its data do not fit the student, …); it is sampled no more. */
  | { type: 'client:abstained'; clientId: string; reason: string; message: string }
  /** Disconnected for sending more refused messages than `maxRefusals` within `refusalWindowMs`. */
  | { type: 'client:cut-off'; clientId: string | null; refusals: number }
  | { type: 'round:started'; roundId: number; sampled: string[]; deadline: number }
  | {
      type: 'update:accepted';
      roundId: number;
      clientId: string;
      numSamples: number;
      bytes: number;
    }
  | { type: 'update:rejected'; roundId: number; clientId: string; code: ErrorCode; message: string }
  /**
   * A secure round's aggregation ended: how many clients' masked deltas the sum holds (of
   * `sampled`, with threshold t), or why it could not be unmasked.
   */
  | {
      type: 'round:secure';
      roundId: number;
      sampled: number;
      threshold: number;
      survivors: number;
      error?: string;
    }
  /** In a secure round, `clientId` could not open the key shares that `about` sealed for it. */
  | { type: 'secure:complaint'; roundId: number; clientId: string; about: string[] }
  /** Excluded from the run: `accusers` different clients could not open its key shares. */
  | { type: 'client:excluded'; clientId: string; accusers: string[] }
  | { type: 'round:closed'; record: RoundRecord }
  /**
   * A step of the coordinator's own outside any handler's guard threw (an ack to a link that
   * broke, a dispatch): logged and counted, and the run goes on.
   */
  | { type: 'coordinator:fault'; where: string; message: string }
  | { type: 'run:ended'; status: 'completed' | 'stopped'; roundsAggregated: number }
  | { type: 'waiting'; connected: number; needed: number };

/** Where an interrupted run picks up: everything its completed rounds left behind. */
export interface ResumePoint {
  rounds: RoundRecord[];
  /** The global student after the last aggregated round (its checkpoint); absent before any. */
  weights?: Float32Array;
}

export interface RunResult {
  runId: string;
  status: 'completed' | 'stopped';
  rounds: RoundRecord[];
  finalStudentAccuracy: number | null;
  studentParams: number;
  /**
   * The exported global student's model.json; null when the strategy keeps no global model
   * (fedmd, dsfl, local: each client's student stays on its device).
   */
  studentExport: string | null;
}
