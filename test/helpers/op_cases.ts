import * as cs from '../../src/index.ts';
import type { Tensor } from '../../src/engine/tensor.ts';
import { rand } from './random.ts';

/**
 * One differentiable computation to check: a function of some inputs and the
 * recipe for those inputs. The table covers every op with a gradient rule and each
 * of its inputs, at odd sizes, strides 2, 'same' padding with odd kernels, dilation
 * and broadcasting. The same table drives the WebGPU backend's checks.
 */
export interface OpCase {
  name: string;
  /** The ops (by registry name) whose gradient rules this case exercises. */
  covers: string[];
  inputs: () => Tensor[];
  f: (...xs: Tensor[]) => Tensor;
}

const pos = (shape: number[], seed: number) => rand(shape, seed, 0.5, 2);
const nz = (shape: number[], seed: number) => rand(shape, seed, -2, 2, 0.2);

export const OP_CASES: OpCase[] = [
  // ---- unary ----
  { name: 'relu', covers: ['relu'], inputs: () => [nz([3, 5], 1)], f: (x) => cs.relu(x) },
  { name: 'sigmoid', covers: ['sigmoid'], inputs: () => [rand([7], 2, -3, 3)], f: (x) => cs.sigmoid(x) },
  { name: 'tanh', covers: ['tanh'], inputs: () => [rand([2, 3], 3, -2, 2)], f: (x) => cs.tanh(x) },
  { name: 'exp', covers: ['exp'], inputs: () => [rand([5], 4)], f: (x) => cs.exp(x) },
  { name: 'log', covers: ['log'], inputs: () => [pos([4, 3], 5)], f: (x) => cs.log(x) },
  { name: 'sqrt', covers: ['sqrt'], inputs: () => [pos([6], 6)], f: (x) => cs.sqrt(x) },
  { name: 'square', covers: ['square'], inputs: () => [rand([3, 3], 7)], f: (x) => cs.square(x) },
  { name: 'abs', covers: ['abs'], inputs: () => [nz([9], 8)], f: (x) => cs.abs(x) },
  { name: 'neg', covers: ['neg'], inputs: () => [rand([4], 9)], f: (x) => cs.neg(x) },
  { name: 'erf, both pieces and the flat tails', covers: ['erf'], inputs: () => [rand([4, 6], 79, -4.5, 4.5)], f: (x) => cs.erf(x) },
  { name: 'clip', covers: ['clip'], inputs: () => [rand([11], 10, -2, 2)], f: (x) => cs.clip(x, -0.77, 0.93) },
  // ---- binary, same shape and broadcast both ways ----
  { name: 'add broadcast', covers: ['add'], inputs: () => [rand([2, 3, 4], 11), rand([3, 1], 12)], f: (a, b) => cs.add(a, b) },
  { name: 'sub broadcast', covers: ['sub'], inputs: () => [rand([4], 13), rand([2, 3, 4], 14)], f: (a, b) => cs.sub(a, b) },
  { name: 'mul broadcast', covers: ['mul'], inputs: () => [rand([2, 1, 5], 15), rand([3, 1], 16)], f: (a, b) => cs.mul(a, b) },
  { name: 'div broadcast', covers: ['div'], inputs: () => [rand([3, 4], 17), nz([1, 4], 18)], f: (a, b) => cs.div(a, b) },
  { name: 'maximum', covers: ['maximum'], inputs: () => [rand([5, 3], 19), rand([5, 3], 20)], f: (a, b) => cs.maximum(a, b) },
  { name: 'minimum broadcast', covers: ['minimum'], inputs: () => [rand([5, 3], 21), rand([3], 22)], f: (a, b) => cs.minimum(a, b) },
  {
    name: 'where',
    covers: ['where'],
    inputs: () => [rand([4, 3], 23), rand([4, 3], 24), rand([3], 25)],
    f: (c, a, b) => cs.where(cs.greater(c, 0), a, b),
  },
  // ---- reductions ----
  { name: 'sum all', covers: ['sum'], inputs: () => [rand([3, 4], 26)], f: (x) => cs.sum(x) },
  { name: 'sum axes keepDims', covers: ['sum'], inputs: () => [rand([2, 3, 5], 27)], f: (x) => cs.sum(x, [0, 2], true) },
  { name: 'mean axis', covers: ['sum', 'div'], inputs: () => [rand([2, 3, 5], 28)], f: (x) => cs.mean(x, -1) },
  { name: 'max axis', covers: ['max'], inputs: () => [rand([4, 5], 29)], f: (x) => cs.max(x, 1) },
  { name: 'min axes', covers: ['min'], inputs: () => [rand([3, 2, 4], 30)], f: (x) => cs.min(x, [0, 2]) },
  // ---- shape ----
  { name: 'reshape', covers: ['reshape'], inputs: () => [rand([2, 6], 31)], f: (x) => cs.mul(cs.reshape(x, [3, -1]), cs.reshape(x, [3, 4])) },
  { name: 'transpose', covers: ['transpose'], inputs: () => [rand([2, 3, 4], 32)], f: (x) => cs.transpose(x, [2, 0, 1]) },
  { name: 'slice', covers: ['slice'], inputs: () => [rand([4, 5, 3], 33)], f: (x) => cs.slice(x, [1, 2, 0], [2, -1, 2]) },
  { name: 'concat', covers: ['concat'], inputs: () => [rand([2, 3], 34), rand([2, 1], 35), rand([2, 2], 36)], f: (a, b, c) => cs.concat([a, b, c], 1) },
  { name: 'pad', covers: ['pad'], inputs: () => [rand([2, 3], 37)], f: (x) => cs.pad(x, [[1, 0], [2, 3]], 0.5) },
  { name: 'broadcastTo', covers: ['broadcastTo'], inputs: () => [rand([3, 1], 38)], f: (x) => cs.broadcastTo(x, [2, 3, 4]) },
  // ---- linear ----
  { name: 'matmul', covers: ['matmul'], inputs: () => [rand([3, 4], 39), rand([4, 5], 40)], f: (a, b) => cs.matmul(a, b) },
  { name: 'matmul Aᵀ', covers: ['matmul'], inputs: () => [rand([4, 3], 41), rand([4, 5], 42)], f: (a, b) => cs.matmul(a, b, true, false) },
  { name: 'matmul Bᵀ', covers: ['matmul'], inputs: () => [rand([3, 4], 43), rand([5, 4], 44)], f: (a, b) => cs.matmul(a, b, false, true) },
  { name: 'matmul AᵀBᵀ', covers: ['matmul'], inputs: () => [rand([4, 3], 45), rand([5, 4], 46)], f: (a, b) => cs.matmul(a, b, true, true) },
  // K up to 4 runs on the small-K kernel (matmul.ts), K = 6 on the GEMM tile, each with every transpose
  { name: 'matmul Aᵀ, K = 1 (an outer product)', covers: ['matmul'], inputs: () => [rand([1, 7], 191), rand([1, 9], 192)], f: (a, b) => cs.matmul(a, b, true, false) },
  { name: 'matmul Bᵀ, K = 2', covers: ['matmul'], inputs: () => [rand([5, 2], 193), rand([6, 2], 194)], f: (a, b) => cs.matmul(a, b, false, true) },
  { name: 'matmul K = 6', covers: ['matmul'], inputs: () => [rand([3, 6], 195), rand([6, 5], 196)], f: (a, b) => cs.matmul(a, b) },
  { name: 'matmul Aᵀ, K = 6', covers: ['matmul'], inputs: () => [rand([6, 3], 197), rand([6, 5], 198)], f: (a, b) => cs.matmul(a, b, true, false) },
  { name: 'matmul AᵀBᵀ, K = 6', covers: ['matmul'], inputs: () => [rand([6, 3], 199), rand([5, 6], 1100)], f: (a, b) => cs.matmul(a, b, true, true) },
  { name: 'biasAdd', covers: ['biasAdd'], inputs: () => [rand([2, 3, 3, 4], 47), rand([4], 48)], f: (x, b) => cs.biasAdd(x, b) },
  { name: 'conv2d valid 3x3', covers: ['conv2d'], inputs: () => [rand([2, 6, 5, 3], 49), rand([3, 3, 3, 4], 50)], f: (x, w) => cs.conv2d(x, w) },
  {
    name: 'conv2d same 3x3 stride 2 odd size',
    covers: ['conv2d'],
    inputs: () => [rand([1, 7, 9, 2], 51), rand([3, 3, 2, 3], 52)],
    f: (x, w) => cs.conv2d(x, w, { padding: 'same', strides: 2 }),
  },
  {
    name: 'conv2d same 5x3 kernel',
    covers: ['conv2d'],
    inputs: () => [rand([1, 6, 6, 2], 53), rand([5, 3, 2, 2], 54)],
    f: (x, w) => cs.conv2d(x, w, { padding: 'same' }),
  },
  {
    name: 'conv2d valid stride 2 even kernel',
    covers: ['conv2d'],
    inputs: () => [rand([2, 8, 7, 3], 55), rand([2, 2, 3, 2], 56)],
    f: (x, w) => cs.conv2d(x, w, { strides: [2, 2] }),
  },
  {
    name: 'conv2d same dilation 2',
    covers: ['conv2d'],
    inputs: () => [rand([1, 7, 6, 2], 57), rand([3, 3, 2, 3], 58)],
    f: (x, w) => cs.conv2d(x, w, { padding: 'same', dilations: 2 }),
  },
  {
    name: 'conv2dBackpropInput',
    covers: ['conv2dBackpropInput'],
    inputs: () => [rand([1, 4, 5, 3], 59), rand([3, 3, 2, 3], 60)],
    f: (dy, w) => cs.conv2dBackpropInput(dy, w, [1, 7, 9, 2], { padding: 'same', strides: 2 }),
  },
  {
    name: 'conv2dBackpropFilter',
    covers: ['conv2dBackpropFilter'],
    inputs: () => [rand([2, 6, 5, 2], 61), rand([2, 4, 3, 3], 62)],
    f: (x, dy) => cs.conv2dBackpropFilter(x, dy, [3, 3, 2, 3]),
  },
  {
    name: 'fusedConv2d same relu',
    covers: ['fusedConv2d'],
    inputs: () => [rand([2, 5, 4, 3], 91), rand([3, 3, 3, 4], 92), rand([4], 93)],
    f: (x, w, b) => cs.fusedConv2d(x, w, b, { padding: 'same', activation: 'relu' }),
  },
  {
    name: 'fusedConv2d valid stride 2 linear',
    covers: ['fusedConv2d'],
    inputs: () => [rand([1, 7, 6, 2], 94), rand([3, 2, 2, 3], 95), rand([3], 96)],
    f: (x, w, b) => cs.fusedConv2d(x, w, b, { strides: 2 }),
  },
  {
    name: 'conv2dBackpropInput with a ReLU mask, stride 1',
    covers: ['conv2dBackpropInput'],
    inputs: () => [rand([1, 4, 5, 3], 97), rand([3, 3, 2, 3], 98), nz([1, 4, 5, 3], 99)],
    f: (dy, w, m) => cs.conv2dBackpropInput(dy, w, [1, 4, 5, 2], { padding: 'same', reluOutput: m }),
  },
  {
    name: 'conv2dBackpropInput with a ReLU mask, stride 2',
    covers: ['conv2dBackpropInput'],
    inputs: () => [rand([1, 4, 5, 3], 100), rand([3, 3, 2, 3], 101), nz([1, 4, 5, 3], 102)],
    f: (dy, w, m) => cs.conv2dBackpropInput(dy, w, [1, 7, 9, 2], { padding: 'same', strides: 2, reluOutput: m }),
  },
  // ---- depthwise convolution (filter [kH, kW, C, M]) ----
  {
    name: 'depthwiseConv2d valid 3x3, multiplier 1, batch 2',
    covers: ['depthwiseConv2d'],
    inputs: () => [rand([2, 6, 5, 3], 301), rand([3, 3, 3, 1], 302)],
    f: (x, w) => cs.depthwiseConv2d(x, w),
  },
  {
    name: 'depthwiseConv2d same 3x3 stride 2 odd size, multiplier 3',
    covers: ['depthwiseConv2d'],
    inputs: () => [rand([1, 7, 9, 2], 303), rand([3, 3, 2, 3], 304)],
    f: (x, w) => cs.depthwiseConv2d(x, w, { padding: 'same', strides: 2 }),
  },
  {
    name: 'depthwiseConv2d same dilation 2, multiplier 2',
    covers: ['depthwiseConv2d'],
    inputs: () => [rand([1, 7, 6, 2], 305), rand([3, 3, 2, 2], 306)],
    f: (x, w) => cs.depthwiseConv2d(x, w, { padding: 'same', dilations: 2 }),
  },
  {
    name: 'depthwiseConv2d same 5x3 kernel',
    covers: ['depthwiseConv2d'],
    inputs: () => [rand([1, 6, 7, 3], 307), rand([5, 3, 3, 1], 308)],
    f: (x, w) => cs.depthwiseConv2d(x, w, { padding: 'same' }),
  },
  {
    name: 'depthwiseConv2d valid stride 2 even kernel, multiplier 3',
    covers: ['depthwiseConv2d'],
    inputs: () => [rand([2, 8, 7, 2], 309), rand([2, 2, 2, 3], 310)],
    f: (x, w) => cs.depthwiseConv2d(x, w, { strides: 2 }),
  },
  {
    name: 'depthwiseConv2d valid strides [1, 2], 3x2 kernel, multiplier 2',
    covers: ['depthwiseConv2d'],
    inputs: () => [rand([1, 6, 9, 2], 319), rand([3, 2, 2, 2], 345)],
    f: (x, w) => cs.depthwiseConv2d(x, w, { strides: [1, 2] }),
  },
  {
    name: 'depthwiseConv2dBackpropInput same stride 2, multiplier 3',
    covers: ['depthwiseConv2dBackpropInput'],
    inputs: () => [rand([1, 4, 5, 6], 311), rand([3, 3, 2, 3], 312)],
    f: (dy, w) => cs.depthwiseConv2dBackpropInput(dy, w, [1, 7, 9, 2], { padding: 'same', strides: 2 }),
  },
  {
    name: 'depthwiseConv2dBackpropInput same dilation 2, multiplier 2',
    covers: ['depthwiseConv2dBackpropInput'],
    inputs: () => [rand([1, 7, 6, 4], 313), rand([3, 3, 2, 2], 314)],
    f: (dy, w) => cs.depthwiseConv2dBackpropInput(dy, w, [1, 7, 6, 2], { padding: 'same', dilations: 2 }),
  },
  {
    name: 'depthwiseConv2dBackpropFilter same stride 2, multiplier 3',
    covers: ['depthwiseConv2dBackpropFilter'],
    inputs: () => [rand([1, 7, 9, 2], 315), rand([1, 4, 5, 6], 316)],
    f: (x, dy) => cs.depthwiseConv2dBackpropFilter(x, dy, [3, 3, 2, 3], { padding: 'same', strides: 2 }),
  },
  {
    name: 'depthwiseConv2dBackpropFilter same 5x3 kernel (two position chunks)',
    covers: ['depthwiseConv2dBackpropFilter'],
    inputs: () => [rand([1, 6, 7, 3], 317), rand([1, 6, 7, 3], 318)],
    f: (x, dy) => cs.depthwiseConv2dBackpropFilter(x, dy, [5, 3, 3, 1], { padding: 'same' }),
  },
  // ---- image resize: up and down at odd sizes, every valid flag combination ----
  ...resizeCases(),
  // ---- pooling ----
  { name: 'maxPool 2x2', covers: ['maxPool'], inputs: () => [rand([2, 6, 6, 3], 63)], f: (x) => cs.maxPool(x) },
  {
    name: 'maxPool 3x3 stride 2 same odd',
    covers: ['maxPool'],
    inputs: () => [rand([1, 7, 5, 2], 64)],
    f: (x) => cs.maxPool(x, { poolSize: 3, strides: 2, padding: 'same' }),
  },
  {
    name: 'maxPool 3x3 stride 2 valid (SqueezeNet)',
    covers: ['maxPool'],
    inputs: () => [rand([1, 9, 9, 2], 65)],
    f: (x) => cs.maxPool(x, { poolSize: 3, strides: 2 }),
  },
  { name: 'avgPool 2x2 odd size', covers: ['avgPool'], inputs: () => [rand([1, 5, 7, 2], 66)], f: (x) => cs.avgPool(x) },
  {
    name: 'avgPool 3x3 same',
    covers: ['avgPool'],
    inputs: () => [rand([2, 5, 4, 2], 67)],
    f: (x) => cs.avgPool(x, { poolSize: 3, strides: 1, padding: 'same' }),
  },
  {
    name: 'avgPoolBackward',
    covers: ['avgPoolBackward'],
    inputs: () => [rand([1, 3, 2, 2], 68)],
    f: (dy) => cs.avgPoolBackward(dy, [1, 5, 4, 2], { poolSize: 3, strides: 2, padding: 'same' }),
  },
  { name: 'globalAvgPool', covers: ['sum', 'div'], inputs: () => [rand([2, 3, 4, 5], 69)], f: (x) => cs.globalAvgPool(x) },
  { name: 'globalMaxPool', covers: ['max'], inputs: () => [rand([2, 3, 4, 5], 70)], f: (x) => cs.globalMaxPool(x) },
  // ---- activations ----
  { name: 'softmax', covers: ['softmax'], inputs: () => [rand([3, 6], 71, -3, 3)], f: (x) => cs.softmax(x) },
  { name: 'leakyRelu', covers: ['maximum', 'mul'], inputs: () => [nz([10], 72)], f: (x) => cs.leakyRelu(x, 0.2) },
  {
    name: 'prelu',
    covers: ['relu', 'neg', 'mul', 'sub'],
    inputs: () => [nz([2, 3, 3, 4], 73), rand([1, 1, 4], 74, 0, 0.5)],
    f: (x, a) => cs.prelu(x, a),
  },
  { name: 'gelu exact', covers: ['erf', 'mul', 'add'], inputs: () => [rand([3, 5], 80, -3, 3)], f: (x) => cs.gelu(x) },
  { name: 'gelu tanh approximation', covers: ['tanh', 'square', 'mul', 'add'], inputs: () => [rand([3, 5], 81, -3, 3)], f: (x) => cs.gelu(x, true) },
  // ---- a small network: fan-out, chains and every layer kind of the book's convnet ----
  {
    name: 'conv-relu-pool-dense-sigmoid chain',
    covers: ['conv2d', 'biasAdd', 'relu', 'maxPool', 'reshape', 'matmul', 'sigmoid'],
    inputs: () => [rand([1, 8, 8, 2], 75), rand([3, 3, 2, 3], 76), rand([3], 77), rand([27, 1], 78)],
    f: (x, w, b, d) => cs.sigmoid(cs.matmul(cs.flatten(cs.maxPool(cs.relu(cs.biasAdd(cs.conv2d(x, w), b)))), d)),
  },
];

/**
 * resizeBilinear and resizeNearest up and down (odd sizes, one axis up and the other down
 * too) with each flag combination TensorFlow allows, and both backward ops.
 */
function resizeCases(): OpCase[] {
  const flags: [string, cs.ResizeOptions][] = [
    ['', {}],
    [', alignCorners', { alignCorners: true }],
    [', halfPixelCenters', { halfPixelCenters: true }],
  ];
  const sizes: [string, number[], [number, number]][] = [
    ['up 5x4 -> 9x7', [1, 5, 4, 2], [9, 7]],
    ['down 9x7 -> 4x3, batch 2', [2, 9, 7, 2], [4, 3]],
  ];
  const out: OpCase[] = [];
  let seed = 320;
  for (const [op, fn] of [['resizeBilinear', cs.resizeBilinear], ['resizeNearest', cs.resizeNearest]] as const) {
    for (const [fname, o] of flags) {
      for (const [sname, shape, size] of sizes) {
        const s = seed++;
        out.push({ name: `${op} ${sname}${fname}`, covers: [op], inputs: () => [rand(shape, s)], f: (x) => fn(x, size, o) });
      }
    }
  }
  out.push(
    {
      name: 'resizeBilinear 5x7 -> 8x3 (up and down), halfPixelCenters',
      covers: ['resizeBilinear'],
      inputs: () => [rand([1, 5, 7, 3], 340)],
      f: (x) => cs.resizeBilinear(x, [8, 3], { halfPixelCenters: true }),
    },
    {
      name: 'resizeBilinearBackward up, halfPixelCenters',
      covers: ['resizeBilinearBackward'],
      inputs: () => [rand([1, 9, 7, 2], 341)],
      f: (dy) => cs.resizeBilinearBackward(dy, [1, 5, 4, 2], { halfPixelCenters: true }),
    },
    {
      name: 'resizeBilinearBackward down, alignCorners',
      covers: ['resizeBilinearBackward'],
      inputs: () => [rand([2, 4, 3, 2], 342)],
      f: (dy) => cs.resizeBilinearBackward(dy, [2, 9, 7, 2], { alignCorners: true }),
    },
    {
      name: 'resizeNearestBackward up, halfPixelCenters',
      covers: ['resizeNearestBackward'],
      inputs: () => [rand([1, 9, 7, 2], 343)],
      f: (dy) => cs.resizeNearestBackward(dy, [1, 5, 4, 2], { halfPixelCenters: true }),
    },
    {
      name: 'resizeNearestBackward down, alignCorners',
      covers: ['resizeNearestBackward'],
      inputs: () => [rand([2, 4, 3, 2], 344)],
      f: (dy) => cs.resizeNearestBackward(dy, [2, 9, 7, 2], { alignCorners: true }),
    },
  );
  return out;
}
