// Teacher features over the proxy set: the compact wire form the feature and relation terms read.
export {
  FEATURE_PRECISIONS,
  FEATURE_SET_FORMAT,
  MAX_FEATURE_WIDTH,
  decodeFeatures,
  encodeFeatures,
} from './featureSet.js';
export type {
  DecodeFeaturesOptions,
  EncodeFeaturesOptions,
  FeaturePrecision,
  FeatureSet,
  TeacherFeatures,
} from './featureSet.js';
