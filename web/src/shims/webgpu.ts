/**
 * Stands in for the `webgpu` npm package (Dawn for Node) in the web build (vite.config.ts
 * aliases it): src/validate/reference.ts imports it only where there is no navigator.gpu,
 * which in the page means this browser has no WebGPU.
 */
const unavailable = (): never => {
  throw new Error('TF.js webgpu: this browser has no WebGPU (navigator.gpu); choose the wasm or cpu TF.js backend');
};
export const create = unavailable;
export const globals = {};
export default { create, globals };
