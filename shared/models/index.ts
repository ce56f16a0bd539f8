// Public API of shared/models: specs, model building, flat weights, fast forward.
export {
  cnnSpec,
  inferShapes,
  layerSpecSchema,
  MAX_SPEC_PARAMETERS,
  mlpSpec,
  modelSpecSchema,
  parseModelSpec,
} from './spec.js';
export type { Activation, CnnSpecOptions, LayerSpec, ModelSpec, SpecShapes } from './spec.js';
export {
  buildModel,
  countParameters,
  getFlatWeights,
  setFlatWeights,
  weightSegments,
} from './buildModel.js';
export { createFastForward, trainableVariables } from './fastForward.js';
export type { FastForward, FastForwardOptions, ForwardOutput } from './fastForward.js';
export {
  conv2dFast,
  conv2dFastNoInputGrad,
  conv2dFilterGrad,
  denseMatMul,
  denseMatMulNoInputGrad,
} from './fastOps.js';
export type { ConvPadding } from './fastOps.js';
export { SPEC_SHORTHAND, specFromShorthand } from './shorthand.js';
