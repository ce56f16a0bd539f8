/**
 * The small, fast settings most coordinator tests share: one local epoch, a
 * tiny teacher trained for one epoch and a tiny student, so a test spends its
 * time on what it checks rather than on training.
 */
import type { RoundConfig } from '../../shared/index.js';

export function smallTraining(overrides: Partial<RoundConfig> = {}): RoundConfig {
  return {
    epochs: 1,
    batchSize: 32,
    learningRate: 0.003,
    temperature: 4,
    alpha: 0.3,
    optimizer: 'adam',
    updatePrecision: 'float16',
    ...overrides,
  };
}

/** Teacher and student for `prepareCoordinator`: mlp:32 trained one epoch, and mlp:16. */
export const SMALL_MODELS = { teacherSpec: 'mlp:32', teacherEpochs: 1, student: 'mlp:16' } as const;
