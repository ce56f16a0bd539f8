/**
 * Checkpoints of the global student in tfjs layers format, one folder per
 * aggregated round, each written atomically (staging folder, then rename),
 * plus `latest.json` naming the newest and a final export of the student.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { saveModelAtomic, writeFileAtomic } from '../node/modelFiles.js';

export interface CheckpointWriter {
  save(model: tf.LayersModel, round: number): Promise<void>;
  exportFinal(model: tf.LayersModel): Promise<string>;
}

export function roundFolder(round: number): string {
  return `round-${String(round).padStart(5, '0')}`;
}

export class DirectoryCheckpoints implements CheckpointWriter {
  /**
   * @param runDir folder of this run, e.g. `<dataDir>/runs/<runId>`
   * @param keep how many round checkpoints to keep. Defaults to 3.
   */
  constructor(
    readonly runDir: string,
    private readonly keep = 3,
  ) {}

  get checkpointDir(): string {
    return join(this.runDir, 'checkpoints');
  }

  get finalDir(): string {
    return join(this.runDir, 'student');
  }

  async save(model: tf.LayersModel, round: number): Promise<void> {
    const folder = roundFolder(round);
    await saveModelAtomic(model, join(this.checkpointDir, folder));
    await writeFileAtomic(
      join(this.checkpointDir, 'latest.json'),
      JSON.stringify({ round, path: `${folder}/model.json`, savedAt: new Date().toISOString() }),
    );
    const rounds = (await readdir(this.checkpointDir))
      .filter((name) => /^round-\d+$/.test(name))
      .sort();
    for (const old of rounds.slice(0, Math.max(0, rounds.length - this.keep))) {
      await rm(join(this.checkpointDir, old), { recursive: true, force: true });
    }
  }

  async exportFinal(model: tf.LayersModel): Promise<string> {
    await saveModelAtomic(model, this.finalDir);
    return join(this.finalDir, 'model.json');
  }
}
