// Soft labels: temperature softmax, top-k sparsification, float16 / uint8
// quantisation and the compact wire form of a proxy set's teacher outputs.
export { softmaxWithTemperature } from './softmax.js';
export {
  FLOAT16_MAX,
  float16ToFloat32,
  float32ToFloat16,
  float32BitsToHalf,
  halfToFloat32Bits,
  isHalfNonFinite,
} from './float16.js';
export { UINT8_LEVELS, dequantizeProbsUint8, quantizeProbsUint8 } from './quantize.js';
export {
  MAX_SOFT_LABEL_CLASSES,
  SOFT_LABEL_FORMAT,
  SOFT_LABEL_PRECISIONS,
  decodeSoftLabels,
  encodeSoftLabels,
  sparsifyTopK,
} from './softLabelSet.js';
export type {
  DecodeSoftLabelsOptions,
  EncodeSoftLabelsOptions,
  SoftLabelPrecision,
  SoftLabelSet,
} from './softLabelSet.js';
export { softmaxRows } from './softmaxRows.js';
