// Public API of server/teachers: the Teacher interface and its tfjs and ONNX implementations.
export type { SyncTeacher, Teacher, TeacherFeatures, TeacherOutputs } from './teacher.js';
export { looksLikeProbabilities, toLogits, unknownFeatureLayer } from './teacher.js';
export type { ForwardTeacherOptions } from './tfjsTeacher.js';
export {
  layerFeatureForwards,
  loadTfjsTeacher,
  teacherFromForward,
  teacherFromLayersModel,
} from './tfjsTeacher.js';
export type { OnnxTeacher, OnnxTeacherOptions } from './onnxTeacher.js';
export { loadOnnxTeacher } from './onnxTeacher.js';
export type { OnnxProvider, OnnxProviderAttempt } from './onnxProviders.js';
export {
  CUDA_INSTALL_HINT,
  cudaProviderMissing,
  describeProviderChoice,
  importOnnxRuntime,
  ONNX_PROVIDERS,
} from './onnxProviders.js';
export type { OnnxConversion, LayersToOnnxOptions } from './layersToOnnx.js';
export { layersModelToOnnx, UnsupportedLayerError } from './layersToOnnx.js';
export type { RuntimeTeacher, TeacherRuntime, TeacherRuntimeOptions } from './teacherRuntime.js';
export {
  layersTeacherOnRuntime,
  parseTeacherRuntime,
  RUNTIME_PROBE_TOLERANCE,
  TEACHER_RUNTIMES,
} from './teacherRuntime.js';
export type { LoadTeacherOptions } from './loadTeacher.js';
export {
  checkFeatureLayer,
  checkTeacherFitsData,
  isOnnxFile,
  loadTeacherFile,
} from './loadTeacher.js';
