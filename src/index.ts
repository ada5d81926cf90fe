/** convscope's public API: the engine, its ops, autodiff, and (later) models and visualizations. */
export { engine, tidy, keep, dispose, setBackend, getBackend, memory } from './engine/engine.ts';
export { Tensor } from './engine/tensor.ts';
export type { Backend } from './engine/backend.ts';
export * from './engine/ops/index.ts';
export { gradientsOf, valueAndGrads, valueAndGrad, grad, grads, lossAndGradsFunction } from './autodiff/api.ts';
export { Tape } from './autodiff/tape.ts';
export { withGradientOverride, guidedRelu, guidedFusedConv2d, GUIDED_BACKPROP } from './autodiff/override.ts';
export { checkGradients } from './autodiff/gradcheck.ts';
export { prepareKernels, setAutoTune, type PrepareOptions, type PrepareReport } from './engine/prepare.ts';
import './kernels/reference/index.ts';
import './kernels/wgsl/index.ts';
export { WebGPUBackend } from './kernels/wgsl/backend.ts';
