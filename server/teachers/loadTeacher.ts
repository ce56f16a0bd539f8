/**
 * Loading a teacher from a file by its kind (`.onnx` → ONNX Runtime,
 * model.json → tfjs), and checking before any round that it fits the data:
 * the same number of input values a sample and the same class count.
 */
import type { OnnxProvider } from './onnxProviders.js';
import { loadOnnxTeacher } from './onnxTeacher.js';
import type { Teacher, TeacherOutputs } from './teacher.js';
import { unknownFeatureLayer } from './teacher.js';
import type { TeacherRuntime } from './teacherRuntime.js';
import { loadTfjsTeacher } from './tfjsTeacher.js';

export interface LoadTeacherOptions {
  /** Defaults to 'auto'. */
  outputs: TeacherOutputs;
  /** ONNX execution provider. Defaults to 'auto'. */
  onnxProvider: OnnxProvider;
  /** Intermediate layer (tfjs) or tensor (ONNX) for feature distillation; checked at load. Defaults to the teacher's own default. */
  featureLayer: string;
  /** Layout of a rank-4 ONNX input. Defaults to 'nchw' (see OnnxTeacherOptions.inputLayout). */
  onnxInputLayout: 'nchw' | 'nhwc';
  /** What runs a tfjs layers model (teacherRuntime.ts). Defaults to 'auto'; `wasm` is refused for an .onnx file. */
  runtime: TeacherRuntime;
  log: (message: string) => void;
}

export function isOnnxFile(path: string): boolean {
  return path.toLowerCase().endsWith('.onnx');
}

export async function loadTeacherFile(
  path: string,
  options: Readonly<Partial<LoadTeacherOptions>> = {},
): Promise<Teacher> {
  if (isOnnxFile(path)) {
    if (options.runtime === 'wasm')
      throw new Error(
        `--teacher-runtime wasm applies to tfjs teachers; ${path} is an ONNX model, which only ONNX Runtime runs`,
      );
    return loadOnnxTeacher(path, {
      ...(options.outputs ? { outputs: options.outputs } : {}),
      ...(options.onnxProvider ? { provider: options.onnxProvider } : {}),
      ...(options.featureLayer !== undefined ? { featureLayer: options.featureLayer } : {}),
      ...(options.onnxInputLayout ? { inputLayout: options.onnxInputLayout } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
  }
  const teacher = await loadTfjsTeacher(path, options.outputs ?? 'auto', {
    ...(options.runtime ? { runtime: options.runtime } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  if (options.featureLayer !== undefined) checkFeatureLayer(teacher, options.featureLayer);
  return teacher;
}

/** Throws, listing the known layers, when `teacher` has no feature layer `layer`. */
export function checkFeatureLayer(teacher: Teacher, layer: string): void {
  const known = teacher.featureLayers();
  if (!known.includes(layer) || !teacher.features) {
    teacher.dispose();
    throw unknownFeatureLayer(teacher.description, layer, known);
  }
}

/**
 * Refuses a teacher that cannot label this data: a different number of input
 * values a sample, or a different class count than the data (or the student).
 */
export function checkTeacherFitsData(
  teacher: Teacher,
  data: { featureSize: number; numClasses: number; source?: string },
): void {
  const rowSize = teacher.inputShape.reduce((a, b) => a * b, 1);
  const source = data.source ?? 'the data';
  if (rowSize !== data.featureSize) {
    throw new Error(
      `${teacher.description} takes inputs of shape [${teacher.inputShape.join(', ')}] (${rowSize} values), ` +
        `but ${source} has ${data.featureSize} values a sample`,
    );
  }
  if (teacher.numClasses !== data.numClasses) {
    throw new Error(
      `${teacher.description} predicts ${teacher.numClasses} classes, but ${source} has ${data.numClasses}`,
    );
  }
}
