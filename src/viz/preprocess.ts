/**
 * Input preprocessing for the three models, on float32 HWC RGB arrays in
 * 0..255 (what {@link kerasLoadImg} returns). Every function returns a new
 * Float32Array and leaves its input untouched.
 *
 * Arithmetic is float32 as numpy does it on a float32 array: the constant is
 * first rounded to float32 (numpy casts the Python float to the array's
 * dtype for `x -= 103.939` / `x /= 255.`), then the operation is rounded to
 * float32.
 */
import type { Model } from '../models/model.ts';

/** Keras `preprocess_input` "caffe" means for VGG16, in B, G, R order. */
export const VGG16_BGR_MEANS: readonly [number, number, number] = [103.939, 116.779, 123.68];

/** Caffe means the SqueezeNet v1.1 weights expect, in B, G, R order. */
export const SQUEEZENET_BGR_MEANS: readonly [number, number, number] = [104.006, 116.669, 122.679];

/** The preprocessing modes the product knows. */
export type PreprocessMode = 'rescale' | 'vgg16' | 'caffe' | 'squeezenet' | 'tf' | 'torch' | 'none';

/** ImageNet mean and standard deviation per RGB channel (PyTorch's and Keras's "torch" mode). */
export const TORCH_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const TORCH_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/** Keras "tf" mode (MobileNet, Teachable Machine): x / 127.5 - 1, any channel count. */
export function tfPreprocess(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  const s = Math.fround(127.5);
  for (let i = 0; i < x.length; i++) out[i] = Math.fround(x[i]! / s) - 1;
  return out;
}

/** Keras "torch" mode: x / 255, then minus the ImageNet mean and over its standard deviation, per RGB channel. */
export function torchPreprocess(x: Float32Array): Float32Array {
  checkRgb(x, 'torchPreprocess');
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % 3;
    out[i] = (Math.fround(x[i]! / 255) - Math.fround(TORCH_MEAN[c])) / Math.fround(TORCH_STD[c]);
  }
  return out;
}

function checkRgb(x: Float32Array, what: string): void {
  if (!(x instanceof Float32Array)) throw new Error(`${what}: expected a Float32Array`);
  if (x.length % 3 !== 0) throw new Error(`${what}: length ${x.length} is not a multiple of 3 (HWC RGB expected)`);
}

/** Model A: `x / 255` (float32). */
export function rescale(x: Float32Array): Float32Array {
  if (!(x instanceof Float32Array)) throw new Error('rescale: expected a Float32Array');
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! / 255;
  return out;
}

/**
 * Caffe-style preprocessing: RGB → BGR (channel order reversed), then
 * subtract `bgrMeans` = [B, G, R] means; no scaling.
 */
export function caffePreprocess(x: Float32Array, bgrMeans: readonly [number, number, number]): Float32Array {
  checkRgb(x, 'caffePreprocess');
  const mb = Math.fround(bgrMeans[0]);
  const mg = Math.fround(bgrMeans[1]);
  const mr = Math.fround(bgrMeans[2]);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i += 3) {
    const r = x[i]!;
    const g = x[i + 1]!;
    const b = x[i + 2]!;
    out[i] = b - mb;
    out[i + 1] = g - mg;
    out[i + 2] = r - mr;
  }
  return out;
}

/** VGG16 `preprocess_input` ("caffe" mode): BGR minus 103.939, 116.779, 123.68. */
export function vgg16Preprocess(x: Float32Array): Float32Array {
  return caffePreprocess(x, VGG16_BGR_MEANS);
}

/** SqueezeNet v1.1: BGR minus 104.006, 116.669, 122.679. */
export function squeezenetPreprocess(x: Float32Array): Float32Array {
  return caffePreprocess(x, SQUEEZENET_BGR_MEANS);
}

/**
 * Apply the named preprocessing (`'caffe'` is an alias of `'vgg16'`, Keras'
 * name for that mode); `'none'` returns a copy.
 */
export function preprocess(x: Float32Array, mode: PreprocessMode): Float32Array {
  switch (mode) {
    case 'rescale':
      return rescale(x);
    case 'vgg16':
    case 'caffe':
      return vgg16Preprocess(x);
    case 'squeezenet':
      return squeezenetPreprocess(x);
    case 'tf':
      return tfPreprocess(x);
    case 'torch':
      return torchPreprocess(x);
    case 'none':
      if (!(x instanceof Float32Array)) throw new Error('preprocess: expected a Float32Array');
      return x.slice();
    default:
      throw new Error(`preprocess: unknown mode '${String(mode)}'`);
  }
}

/**
 * The preprocessing that goes with a model when none is asked for: the built-in
 * architecture's, none for a model that rescales or normalises its input itself (a
 * Rescaling or Normalization layer before its first conv or Dense layer), else 1/255.
 * Used by the CLI and the web page.
 */
export function defaultPreprocess(arch: string | undefined, model?: Model): PreprocessMode {
  if (arch === 'vgg16' || arch === 'vgg16-notop') return 'vgg16';
  if (arch === 'squeezenet-notop') return 'squeezenet';
  if (model) {
    for (const l of model.spec.layers) {
      if (l.className === 'Rescaling' || l.className === 'Normalization') return 'none';
      if (model.convLayers().includes(l.name) || l.className === 'Dense') break;
    }
  }
  return 'rescale';
}
