/**
 * Checkpoints of the global student in tfjs layers format, one folder per
 * aggregated round, each written atomically (staging folder, then rename),
 * plus `latest.json` naming the newest and a final export of the student:
 * float32 in `student/`, and beside it the same model with float16 weights
 * (`student-float16/`) and uint8-quantised weights (`student-uint8/`) for
 * deployment, all loadable by `tf.loadLayersModel`.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { WeightPrecision } from '../node/modelFiles.js';
import { saveModelAtomic, writeFileAtomic } from '../node/modelFiles.js';

/** The reduced-precision copies exportFinal writes beside the float32 student. */
export const EXPORT_PRECISIONS: readonly Exclude<WeightPrecision, 'float32'>[] = [
  'float16',
  'uint8',
];

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

  /** Round folders on disk, oldest first: listed once (earlier processes may have left some), then kept up to date here. */
  #folders: string[] | undefined;

  get checkpointDir(): string {
    return join(this.runDir, 'checkpoints');
  }

  get finalDir(): string {
    return join(this.runDir, 'student');
  }

  /** Folder of the final student at `precision` (float32: `finalDir`). */
  exportDir(precision: WeightPrecision): string {
    return precision === 'float32' ? this.finalDir : `${this.finalDir}-${precision}`;
  }

  async save(model: tf.LayersModel, round: number): Promise<void> {
    const folder = roundFolder(round);
    await saveModelAtomic(model, join(this.checkpointDir, folder));
    // Naming the newest and pruning the oldest are independent once the new folder exists.
    await Promise.all([
      writeFileAtomic(
        join(this.checkpointDir, 'latest.json'),
        JSON.stringify({ round, path: `${folder}/model.json`, savedAt: new Date().toISOString() }),
      ),
      this.#prune(folder),
    ]);
  }

  /** Removes all but the newest `keep` round folders, without listing the folder every round. */
  async #prune(saved: string): Promise<void> {
    if (this.#folders === undefined) {
      this.#folders = (await readdir(this.checkpointDir))
        .filter((name) => /^round-\d+$/.test(name))
        .sort();
    } else if (!this.#folders.includes(saved)) {
      this.#folders.push(saved);
      this.#folders.sort();
    }
    const excess = this.#folders.length - this.keep;
    if (excess <= 0) return;
    const old = this.#folders.splice(0, excess);
    await Promise.all(
      old.map((name) => rm(join(this.checkpointDir, name), { recursive: true, force: true })),
    );
  }

  /** Writes the final student at float32 and at each of EXPORT_PRECISIONS; returns the float32 model.json. */
  async exportFinal(model: tf.LayersModel): Promise<string> {
    await saveModelAtomic(model, this.finalDir);
    for (const precision of EXPORT_PRECISIONS) {
      await saveModelAtomic(model, this.exportDir(precision), precision);
    }
    return join(this.finalDir, 'model.json');
  }
}
