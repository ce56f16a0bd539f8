/**
 * The trained student for download: every folder of the run directory whose
 * name starts with `student` and holds a tfjs `model.json` (the float32 export
 * `student/`, and quantised variants written beside it), with the files each
 * one's manifest names. Only those files are ever served: a request names a
 * variant and a file, both checked against what is on disk, never a path.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

const manifestSchema = z
  .object({
    weightsManifest: z.array(
      z
        .object({
          paths: z.array(z.string()),
          weights: z.array(z.object({ dtype: z.string() }).loose()),
        })
        .loose(),
    ),
  })
  .loose();

export interface ModelVariant {
  /** Folder name, e.g. `student`, `student-int8`. */
  name: string;
  /** Files of this variant: `model.json` first, then the weight shards. */
  files: { name: string; bytes: number }[];
  totalBytes: number;
  /** Weight dtypes the manifest declares (float32; int8/uint8/float16 for quantised exports). */
  dtypes: string[];
  /** `quantization.dtype` of the manifest's weights, when the export is quantised. */
  quantization: string | null;
}

const SAFE_NAME = /^[\w.-]+$/;

/** The student variants of a run directory; none before the run exported its student. */
export function modelVariants(runDir: string): ModelVariant[] {
  if (!existsSync(runDir)) return [];
  const variants: ModelVariant[] = [];
  for (const name of readdirSync(runDir).sort()) {
    if (!name.startsWith('student') || !SAFE_NAME.test(name)) continue;
    const modelJson = join(runDir, name, 'model.json');
    if (!existsSync(modelJson)) continue;
    let manifest;
    try {
      manifest = manifestSchema.parse(JSON.parse(readFileSync(modelJson, 'utf8')));
    } catch {
      continue; // being written, or not a layers model: not offered
    }
    const files = [{ name: 'model.json', bytes: statSync(modelJson).size }];
    const dtypes = new Set<string>();
    let quantization: string | null = null;
    let complete = true;
    for (const group of manifest.weightsManifest) {
      for (const weight of group.weights) {
        dtypes.add(weight.dtype);
        const q = (weight as { quantization?: { dtype?: unknown } }).quantization;
        if (q && typeof q.dtype === 'string') quantization = q.dtype;
      }
      for (const path of group.paths) {
        const file = join(runDir, name, path);
        if (!SAFE_NAME.test(path) || !existsSync(file)) complete = false;
        else files.push({ name: path, bytes: statSync(file).size });
      }
    }
    if (!complete) continue;
    variants.push({
      name,
      files,
      totalBytes: files.reduce((sum, f) => sum + f.bytes, 0),
      dtypes: [...dtypes],
      quantization,
    });
  }
  return variants;
}

/** The path of one file of one variant, or undefined when the run has no such file. */
export function modelFilePath(runDir: string, variant: string, file: string): string | undefined {
  const found = modelVariants(runDir).find((v) => v.name === variant);
  if (!found?.files.some((f) => f.name === file)) return undefined;
  return join(runDir, variant, file);
}
