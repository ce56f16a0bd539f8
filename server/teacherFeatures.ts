/**
 * The teacher's features on the proxy set, for the feature (FitNets hint) and
 * relation (RKD, PKT) distillation terms: computed once per teacher version,
 * proxy set, layer and precision, encoded compactly (shared/features) and
 * served as a content-addressed artifact beside the soft labels, so clients
 * fetch them once. Checked before the first round: the teacher must expose
 * the layer, and a hint regressor must be able to map the student's features
 * to the teacher's.
 */
import type { Codec } from '../shared/codec/index.js';
import type { FeaturePrecision } from '../shared/features/index.js';
import { encodeFeatures } from '../shared/features/index.js';
import type { DistillationTerm } from '../shared/losses/index.js';
import type { ModelSpec } from '../shared/models/index.js';
import { buildModel } from '../shared/models/index.js';
import type { ArtifactRef } from '../shared/protocol/index.js';
import { MAX_REGRESSOR_PARAMETERS, predictFeatures } from '../shared/training/index.js';
import type { ArtifactStore } from './artifacts.js';
import type { Teacher } from './teachers/index.js';

export type TeacherFeaturesRef = ArtifactRef & {
  width: number;
  layer: string;
  precision: FeaturePrecision;
};

export interface TeacherFeatureOptions {
  teacher: Teacher;
  /** Proxy inputs exactly as clients decode them. */
  proxyX: Float32Array;
  proxyCount: number;
  proxyHash: string;
  /** The teacher's layer (tfjs) or tensor (ONNX); undefined: its default feature layer. */
  layer: string | undefined;
  precision: FeaturePrecision;
  studentSpec: ModelSpec;
  terms: readonly DistillationTerm[];
  artifacts: ArtifactStore;
  codec: Codec;
  log: (message: string) => void;
}

/** Width of the student's default hint features (the input of its logits layer). */
function studentFeatureWidth(spec: ModelSpec, oneInput: Float32Array): number {
  const model = buildModel(spec, 0);
  try {
    return predictFeatures(model, oneInput, 1).width;
  } finally {
    model.dispose();
  }
}

/** Refuses, before any round, a hint term whose regressor cannot map the widths. */
function checkHintWidths(options: TeacherFeatureOptions, teacherWidth: number): void {
  const featureSize = options.proxyX.length / Math.max(1, options.proxyCount);
  options.terms.forEach((term, index) => {
    // A hint on another student layer is checked by the client, whose error names the field.
    if (term.name !== 'hint' || term.studentLayer !== undefined) return;
    const width = studentFeatureWidth(options.studentSpec, options.proxyX.subarray(0, featureSize));
    const mode = term.regressor ?? 'auto';
    if (mode === 'none' && width !== teacherWidth)
      throw new Error(
        `training.distillation[${index}].regressor is 'none', but the student's features have width ${width} and the teacher's ${teacherWidth}`,
      );
    if (width !== teacherWidth && width * teacherWidth > MAX_REGRESSOR_PARAMETERS)
      throw new Error(
        `training.distillation[${index}]: a regressor from the student's width ${width} to the teacher's ${teacherWidth} would have ${width * teacherWidth} weights, over ${MAX_REGRESSOR_PARAMETERS}; choose a narrower teacher layer (teacherFeatures.layer)`,
      );
  });
}

/** Computes (or reuses) the teacher-feature artifact and stores it; returns its reference. */
export async function prepareTeacherFeatures(
  options: TeacherFeatureOptions,
): Promise<TeacherFeaturesRef> {
  const { teacher, artifacts, codec, precision } = options;
  if (!teacher.features || teacher.featureLayers().length === 0)
    throw new Error(
      `training.distillation: the feature and relation terms need teacher features, and teacher ${teacher.description} exposes no feature layer`,
    );
  const layer = options.layer ?? teacher.featureLayers()[0]!;
  const key = `features-${teacher.hash.slice(0, 16)}-${options.proxyHash.slice(0, 16)}-${layer.replace(/[^A-Za-z0-9_.-]/g, '_')}-${precision}`;
  let bytes = await artifacts.getCached(key);
  let width: number;
  if (bytes) {
    width = (codec.decode(bytes) as { width: number }).width;
    options.log(`teacher features: reusing cached set ${key}`);
  } else {
    const started = Date.now();
    const features = await teacher.features(options.proxyX, options.proxyCount, layer);
    width = features.width;
    bytes = codec.encode(
      encodeFeatures(features.data, { width, layer: features.layer, precision }),
    );
    await artifacts.setCached(key, bytes);
    options.log(
      `teacher features: layer ${features.layer}, width ${width}, ${options.proxyCount} proxy samples in ${Date.now() - started} ms, ${bytes.byteLength} bytes (${precision})`,
    );
  }
  checkHintWidths(options, width);
  return { ...(await artifacts.put(bytes)), width, layer, precision };
}
