/** What a FedClient reports as it works: joins, artifacts, training progress, each update's fate. */
import type { TrainMetrics } from '../shared/protocol/index.js';

export type FedClientEvent =
  | { type: 'joined'; clientId: string; runId: string; rejoin: boolean }
  | { type: 'artifacts'; proxyCount: number; bytes: number; fromCache: boolean }
  | { type: 'round:start'; roundId: number; deadline: number }
  | {
      type: 'train:progress';
      roundId: number;
      epoch: number;
      step: number;
      steps: number;
      loss: number;
    }
  | { type: 'round:trained'; roundId: number; metrics: TrainMetrics }
  | { type: 'update:accepted'; roundId: number; bytes: number }
  | { type: 'update:rejected'; roundId: number; code: string; message: string }
  | { type: 'round:end'; roundId: number; studentAccuracy?: number }
  | { type: 'disconnected'; reason: string }
  | { type: 'run:end'; reason: string }
  | { type: 'error'; message: string };
