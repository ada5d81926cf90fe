/**
 * The same Keras model in TensorFlow.js (tfjs-layers, CPU backend), built from the
 * same Keras config JSON by tfjs-layers' own deserialiser (`tf.models.modelFromJSON`)
 * and filled with the weights convscope read, set in tfjs's own `layer.weights` order
 * (matched by the variable name tfjs gives each weight: kernel, bias, gamma, ...).
 *
 * What comes back:
 * - every layer's output, named the way convscope names it (nested models flattened:
 *   `sequential_1/model1/Conv1`; a shared layer's second call `name@1`), from running
 *   tfjs's own node graph (each container's `nodesByDepth`, deepest first, the way
 *   tfjs's `execute` walks it) one layer at a time with tfjs's own `layer.apply`;
 *   nested models are entered, so their inner layers have outputs too, each fed with
 *   the value TF.js itself computed for the nested model's input;
 * - the input gradient of any score of the outputs, by `tf.grad` through that run;
 * - `predict` through tfjs's own executor (`model.predict`), to check the wiring above.
 *
 * The JSON is only made readable to tfjs (this is the one place it is changed):
 * `__tuple__` objects unwrapped; Keras 3 serialisation (`module`, dtype policies,
 * `batch_shape`, `{args, kwargs}` nodes) written the Keras 2 way; single flat inbound
 * references (tf.keras SavedModel metadata) wrapped in a node list; call keyword
 * arguments moved out of the nodes (TFOpLambda / SlicingOpLambda keep theirs, tensor
 * operands becoming extra inputs). Layers that tfjs-layers lacks, or computes
 * differently from Keras, get a class written here from Keras's formula with tf ops
 * (see {@link KERAS_FORMULA_CLASSES}); the list of those substitutions is returned
 * (`substitutions`) so each test can say which layers were checked against what.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { LayerSpec, WeightArray } from '../models/keras/spec.ts';
import { useReference, type ReferenceName } from './reference.ts';

type Json = Record<string, unknown>;
// tfjs internals this helper walks (Node, Container fields) are not all in the public typings
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isRef = (v: unknown): v is [string, number, number, ...unknown[]] =>
  Array.isArray(v) && v.length >= 3 && typeof v[0] === 'string' && typeof v[1] === 'number' && typeof v[2] === 'number';
const MODEL_CLASSES = new Set(['Sequential', 'Functional', 'Model']);

// ---------------------------------------------------------------------------------
// Config payloads: tfjs camel-cases every key and every string value of a layer
// config (`channels_last` -> `channelsLast`, `__operators__.add` -> `_Operators_.add`),
// so the classes written here carry their Keras config as base64 JSON, which it leaves alone.

const encode = (v: unknown): string => Buffer.from(JSON.stringify(v), 'utf8').toString('base64');
const decode = (s: string): Json => JSON.parse(Buffer.from(s, 'base64').toString('utf8')) as Json;

function unwrapTuples(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(unwrapTuples);
  if (isObject(v)) {
    if (v.class_name === '__tuple__' && Array.isArray(v.items)) return v.items.map(unwrapTuples);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapTuples(x)]));
  }
  return v;
}

/** Keras 3 serialisation written the Keras 2 way (what tfjs-layers reads). */
function keras3ToKeras2(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(keras3ToKeras2);
  if (!isObject(v)) return v;
  if (v.class_name === 'DTypePolicy' && isObject(v.config)) return v.config.name;
  if (v.class_name === '__keras_tensor__' && isObject(v.config)) return v.config.keras_history;
  const out: Json = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'module' || k === 'registered_name' || k === 'build_config' || k === 'compile_config') continue;
    out[k] = keras3ToKeras2(x);
  }
  if (isObject(out.config) && out.class_name === 'InputLayer' && out.config.batch_shape && !out.config.batch_input_shape) {
    const { batch_shape, optional: _optional, ...rest } = out.config;
    out.config = { ...rest, batch_input_shape: batch_shape };
  }
  return out;
}

/** A Keras 3 node `{args, kwargs}` as a Keras 2 node: a list of [layer, node, tensor, kwargs]. */
function keras3Node(node: Json): unknown[] {
  const refs: unknown[][] = [];
  const walk = (v: unknown): void => {
    if (isRef(v)) refs.push([v[0], v[1], v[2]]);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (isObject(v)) Object.values(v).forEach(walk);
  };
  walk(node.args);
  const kwargs = isObject(node.kwargs) ? node.kwargs : {};
  return refs.map((r) => [...r, kwargs]);
}

// ---------------------------------------------------------------------------------
// Layers written here from Keras's formulas, for what tfjs-layers lacks or computes differently

/** Which Keras layers the tfjs model computes with a class written here instead of tfjs's own, and why. */
export const KERAS_FORMULA_CLASSES: Record<string, string> = {
  TFOpLambda: 'tfjs-layers has no TFOpLambda: the tf function on tf ops',
  SlicingOpLambda: "tfjs-layers has no SlicingOpLambda: Python's x[...], gathered axis by axis",
  KerasInferenceIdentity: 'augmentation, noise and dropout layers tfjs lacks (or, RandomWidth/RandomHeight, runs randomly even at inference): Keras returns the input at inference',
  KerasAutoContrast: 'tfjs-layers has no AutoContrast: per image and channel, (x - min) / (max - min) over value_range (active at inference too)',
  Subtract: 'tfjs-layers has no Subtract: x0 - x1',
  Normalization: 'tfjs-layers has no Normalization: (x - mean) / max(sqrt(variance), 1e-7)',
  LocallyConnected2D: "tfjs-layers has no LocallyConnected2D: Keras's local_conv (every window times its own kernel)",
  KerasGlobalPooling2D: 'tfjs-layers ignores keepdims: the mean / max over rows and columns, kept as 1x1 when asked',
  KerasReLU: 'tfjs-layers ReLU has no negative_slope or threshold: Keras backend.relu',
  KerasThresholdedReLU: "tfjs's ThresholdedReLU has no gradient (it masks with Greater): x * step(x - theta)",
  KerasSoftmax: 'tfjs softmax works on the last axis only: moved last and back',
  KerasLayerNormalization: "tfjs's LayerNormalization fails under tf.grad without beta or gamma: Keras's formula with tf.moments",
  KerasELU: 'tfjs-layers ELU supports only alpha = 1: x > 0 ? x : alpha (exp(x) - 1)',
  KerasActivation: 'an activation tfjs-layers has no name for (exponential, leaky_relu, hard_swish/hard_silu, silu, Keras 3 hard_sigmoid)',
  KerasResize:
    "UpSampling2D, Resizing and CenterCrop as interpolation matrices on Keras's grid (tf.image.resize's half-pixel one; TF 1's for bilinear UpSampling2D before Keras 2.3): tfjs-layers' Resizing uses align_corners and its CenterCrop cropAndResize; tfjs-cpu's resize gradients ignore half_pixel_centers and go wrong when rows and columns differ",
  GroupedConv2D: 'tfjs-layers Conv2D has no groups: one convolution per channel group, concatenated',
  KerasConv2DTranspose: "tfjs-layers Conv2DTranspose has no output_padding: tf.conv2dTranspose to Keras's deconv_output_length",
  KerasDilatedConv: "tfjs has no gradient for dilated convolutions: the same convolution with the kernel's taps spread by zeros",
  KerasBatchNormalization: "tfjs's batchNorm gradient fails without gamma (scale: false, InceptionV3): it saves the missing scale tensor for backward; (x - mean) / sqrt(variance + epsilon) * gamma + beta",
  KerasAveragePooling2D: "tfjs's avgPool gradient with 'same' padding divides by the whole window at borders (its forward does not): a sum pool over the zero-padded input divided by the count of real values",
};

type Activation = (x: tf.Tensor) => tf.Tensor;
const relu6 = (x: tf.Tensor) => tf.clipByValue(x, 0, 6);
/** Keras's activation functions with tf ops (for the classes written here). */
function kerasActivation(name: string, kerasMajor: number): Activation {
  const n = name.toLowerCase();
  const table: Record<string, Activation> = {
    linear: (x) => x,
    relu: tf.relu,
    relu6,
    sigmoid: tf.sigmoid,
    tanh: tf.tanh,
    softmax: (x) => tf.softmax(x, -1),
    log_softmax: (x) => tf.logSoftmax(x, -1),
    elu: tf.elu,
    selu: tf.selu,
    softplus: tf.softplus,
    softsign: (x) => tf.div(x, tf.add(tf.abs(x), 1)),
    swish: (x) => tf.mul(x, tf.sigmoid(x)),
    silu: (x) => tf.mul(x, tf.sigmoid(x)),
    mish: (x) => tf.mul(x, tf.tanh(tf.softplus(x))),
    gelu: (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2)))),
    exponential: tf.exp,
    // Keras 3's leaky_relu activation: negative_slope 0.2
    leaky_relu: (x) => tf.leakyRelu(x, 0.2),
    // Keras 2: clip(0.2 x + 0.5, 0, 1); Keras 3: relu6(x + 3) / 6
    hard_sigmoid: kerasMajor >= 3 ? (x) => tf.div(relu6(tf.add(x, 3)), 6) : (x) => tf.clipByValue(tf.add(tf.mul(x, 0.2), 0.5), 0, 1),
    hard_swish: (x) => tf.mul(x, tf.div(relu6(tf.add(x, 3)), 6)),
    hard_silu: (x) => tf.mul(x, tf.div(relu6(tf.add(x, 3)), 6)),
  };
  const f = table[n];
  if (!f) throw new Error(`tfjs_keras: no formula for activation '${name}'`);
  return f;
}
/** Activation names tfjs-layers itself knows (as Keras writes them). */
const TFJS_ACTIVATIONS = new Set(['linear', 'relu', 'relu6', 'sigmoid', 'tanh', 'softmax', 'log_softmax', 'elu', 'selu', 'softplus', 'softsign', 'swish', 'mish', 'gelu', 'hard_sigmoid']);

const pair = (v: unknown, def: number): [number, number] =>
  v === undefined || v === null ? [def, def] : typeof v === 'number' ? [v, v] : [Number((v as number[])[0]), Number((v as number[])[(v as number[]).length > 1 ? 1 : 0])];

/** Output shape by running the layer on zeros at batch 1 and 2 (a dim that follows the batch becomes null). */
function probeShape(layer: FormulaLayer, inputShape: Any): Any {
  const shapes: (number | null)[][] = Array.isArray(inputShape[0]) || inputShape[0] === undefined ? inputShape : [inputShape];
  const run = (b: number) =>
    tf.tidy(() => {
      const xs = shapes.map((s) => tf.zeros(s.map((d, i) => (d === null ? (i === 0 ? b : 3) : d))));
      const y = layer.call(xs.length === 1 ? xs[0] : xs, {}) as tf.Tensor;
      return y.shape;
    });
  const s1 = run(1);
  const s2 = run(2);
  return s1.map((d, i) => (d !== s2[i] ? null : d));
}

/** Base of the classes written here: the Keras config arrives whole in `payload`. */
abstract class FormulaLayer extends tfl.layers.Layer {
  protected readonly k: Json;
  protected readonly payload: string;
  constructor(args: Any) {
    super(args);
    this.payload = args.payload;
    this.k = decode(args.payload);
  }
  override computeOutputShape(inputShape: Any): Any {
    return probeShape(this, inputShape);
  }
  override getConfig(): Any {
    return { ...super.getConfig(), payload: this.payload };
  }
  protected get kerasMajor(): number {
    return Number(/^(\d+)/.exec(String(this.k.__keras_version ?? '2'))?.[1] ?? 2);
  }
  protected act(): Activation {
    return kerasActivation(String(this.k.activation ?? 'linear'), this.kerasMajor);
  }
  protected weight(role: string, shape: number[]): tfl.LayerVariable {
    return this.addWeight(role, shape, 'float32', tfl.initializers.zeros());
  }
  abstract override call(inputs: Any, kwargs: Any): Any;
}

const list = (x: Any): tf.Tensor[] => (Array.isArray(x) ? x : [x]);

/** A constant operand or the k-th input. */
function operand(v: unknown, xs: tf.Tensor[]): tf.Tensor | number {
  if (isObject(v) && typeof v.input === 'number') return xs[v.input];
  if (typeof v === 'number') return v;
  return tf.tensor(v as number[]);
}
const axesOf = (v: unknown): number[] | undefined => (v === undefined || v === null ? undefined : typeof v === 'number' ? [v] : (v as number[]));

class TFOpLambda extends FormulaLayer {
  static className = 'TFOpLambda';
  call(inputs: Any): tf.Tensor {
    return tf.tidy(() => {
      const xs = list(inputs);
      const x = xs[0];
      const kw = (this.k.call_kwargs ?? {}) as Json;
      const fn = String(this.k.function);
      const y = () => operand(kw.y, xs);
      const binary: Record<string, () => tf.Tensor> = {
        '__operators__.add': () => tf.add(x, y()),
        'math.add': () => tf.add(x, y()),
        '__operators__.sub': () => tf.sub(x, y()),
        'math.subtract': () => tf.sub(x, y()),
        'math.multiply': () => tf.mul(x, y()),
        '__operators__.mul': () => tf.mul(x, y()),
        'math.truediv': () => tf.div(x, y()),
        'math.divide': () => tf.div(x, y()),
        '__operators__.truediv': () => tf.div(x, y()),
        'math.maximum': () => tf.maximum(x, y()),
        'math.minimum': () => tf.minimum(x, y()),
      };
      if (binary[fn]) return binary[fn]();
      const gelu = (): tf.Tensor =>
        kw.approximate === true
          ? // tf.nn.gelu(approximate=True): 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
            tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))))
          : tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
      const unary: Record<string, () => tf.Tensor> = {
        'nn.relu': () => tf.relu(x),
        'nn.relu6': () => relu6(x),
        'math.sigmoid': () => tf.sigmoid(x),
        'nn.sigmoid': () => tf.sigmoid(x),
        'math.tanh': () => tf.tanh(x),
        'nn.tanh': () => tf.tanh(x),
        'nn.silu': () => tf.mul(x, tf.sigmoid(x)),
        'nn.swish': () => tf.mul(x, tf.sigmoid(x)),
        'math.exp': () => tf.exp(x),
        'math.log': () => tf.log(x),
        'math.sqrt': () => tf.sqrt(x),
        'math.rsqrt': () => tf.rsqrt(x),
        'math.square': () => tf.square(x),
        'math.negative': () => tf.neg(x),
        '__operators__.neg': () => tf.neg(x),
        'math.abs': () => tf.abs(x),
        'nn.softmax': () => {
          // tf.nn.softmax(axis=None): the last axis; another axis moved last and back (tfjs: last only)
          const a = typeof kw.axis === 'number' ? (kw.axis < 0 ? kw.axis + x.rank : kw.axis) : x.rank - 1;
          const perm = [...Array(x.rank).keys()];
          [perm[a], perm[x.rank - 1]] = [perm[x.rank - 1], perm[a]];
          return tf.transpose(tf.softmax(tf.transpose(x, perm), -1), perm);
        },
        'nn.gelu': gelu,
        identity: () => x,
      };
      if (unary[fn]) return unary[fn]();
      const keep = kw.keepdims === true;
      const reduce: Record<string, () => tf.Tensor> = {
        'math.reduce_mean': () => tf.mean(x, axesOf(kw.axis), keep),
        'math.reduce_sum': () => tf.sum(x, axesOf(kw.axis), keep),
        'math.reduce_max': () => tf.max(x, axesOf(kw.axis), keep),
        'math.reduce_min': () => tf.min(x, axesOf(kw.axis), keep),
      };
      if (reduce[fn]) return reduce[fn]();
      if (fn === 'reshape') {
        // a fixed leading size in the saved shape is the batch the model was traced with
        const s = (kw.shape as number[]).map((d, i) => (i === 0 && d !== -1 ? x.shape[0] : d));
        return tf.reshape(x, s);
      }
      if (fn === 'transpose' || fn === 'compat.v1.transpose') return tf.transpose(x, kw.perm as number[]);
      if (fn === 'expand_dims') return tf.expandDims(x, axesOf(kw.axis)![0]);
      if (fn === 'concat') return tf.concat(xs, axesOf(kw.axis)![0]);
      throw new Error(`tfjs_keras TFOpLambda: no formula for tf.${fn}`);
    });
  }
}

class SlicingOpLambda extends FormulaLayer {
  static className = 'SlicingOpLambda';
  call(inputs: Any): tf.Tensor {
    return tf.tidy(() => {
      const x = list(inputs)[0];
      const raw = ((this.k.call_kwargs ?? {}) as Json).slice_spec;
      const spec = Array.isArray(raw) ? raw : [raw];
      const isEllipsis = (s: unknown) => s === '...' || (isObject(s) && s.class_name === '__ellipsis__');
      // Python's x[...] (positive steps): an ellipsis stands for the axes the others leave;
      // each axis keeps range(start, stop, step) after Python's clamping, an integer drops it.
      // Gathered axis by axis (tfjs has no gradient for StridedSlice).
      const e = spec.findIndex(isEllipsis);
      const perAxis: unknown[] = e < 0 ? [...spec, ...Array(x.rank - spec.length).fill(null)] : [...spec.slice(0, e), ...Array(x.rank - spec.length + 1).fill(null), ...spec.slice(e + 1)];
      let y = x;
      const drop: number[] = [];
      perAxis.forEach((s, axis) => {
        if (s === null || s === undefined) return;
        const n = x.shape[axis];
        let idx: number[];
        if (typeof s === 'number') {
          idx = [s < 0 ? s + n : s];
          drop.push(axis);
        } else {
          const o = s as Json;
          const step = Number(o.step ?? 1);
          const clamp = (v: unknown, def: number) => (v === null || v === undefined ? def : Math.min(Math.max(Number(v) < 0 ? Number(v) + n : Number(v), 0), n));
          const [start, stop] = [clamp(o.start, 0), clamp(o.stop, n)];
          idx = [];
          for (let i = start; i < stop; i += step) idx.push(i);
        }
        y = tf.gather(y, tf.tensor1d(idx, 'int32'), axis);
      });
      return drop.length ? tf.squeeze(y, drop) : y;
    });
  }
}

class KerasInferenceIdentity extends FormulaLayer {
  static className = 'KerasInferenceIdentity';
  call(inputs: Any): tf.Tensor {
    return tf.clone(list(inputs)[0]);
  }
}

class KerasAutoContrast extends FormulaLayer {
  static className = 'KerasAutoContrast';
  call(inputs: Any): tf.Tensor {
    return tf.tidy(() => {
      const x = list(inputs)[0];
      const [lo, hi] = [...((this.k.value_range as number[]) ?? [0, 255])].sort((a, b) => a - b);
      // keras.layers.AutoContrast.transform_images: to 0..255, stretch each image's channel
      // from its min..max to 0..255, clip, back to value_range; NaN (flat channels) keep the input
      const to255 = tf.mul(tf.div(tf.sub(x, lo), hi - lo), 255);
      const low = tf.min(to255, [1, 2], true);
      const high = tf.max(to255, [1, 2], true);
      const scale = tf.div(255, tf.sub(high, low));
      const offset = tf.mul(tf.neg(low), scale);
      const y = tf.clipByValue(tf.add(tf.mul(to255, scale), offset), 0, 255);
      const back = tf.add(tf.mul(tf.div(y, 255), hi - lo), lo);
      return tf.where(tf.isNaN(back), x, back);
    });
  }
}

class Subtract extends FormulaLayer {
  static className = 'Subtract';
  call(inputs: Any): tf.Tensor {
    const xs = list(inputs);
    return tf.sub(xs[0], xs[1]);
  }
}

class Normalization extends FormulaLayer {
  static className = 'Normalization';
  private mean?: tfl.LayerVariable;
  private variance?: tfl.LayerVariable;
  override build(inputShape: Any): void {
    const n = inputShape[inputShape.length - 1] as number;
    if (this.k.mean === undefined || this.k.mean === null) {
      this.mean = this.weight('mean', [n]);
      this.variance = this.weight('variance', [n]);
      this.weight('count', []);
    }
    this.built = true;
  }
  call(inputs: Any): tf.Tensor {
    return tf.tidy(() => {
      const x = list(inputs)[0];
      const n = x.shape[x.rank - 1];
      const fromConfig = (v: unknown) => {
        const a = typeof v === 'number' ? [v] : (v as number[]);
        return tf.tensor1d(a.length === 1 ? Array(n).fill(a[0]) : a);
      };
      const mean = this.mean ? this.mean.read() : fromConfig(this.k.mean);
      const variance = this.variance ? this.variance.read() : fromConfig(this.k.variance);
      // Keras: (x - mean) / max(sqrt(variance), epsilon), epsilon = 1e-7; invert: mean + x * that
      const std = tf.maximum(tf.sqrt(variance), 1e-7);
      return this.k.invert === true ? tf.add(tf.mul(x, std), mean) : tf.div(tf.sub(x, mean), std);
    });
  }
}

class LocallyConnected2D extends FormulaLayer {
  static className = 'LocallyConnected2D';
  private kernel!: tfl.LayerVariable;
  private bias?: tfl.LayerVariable;
  private geometry!: { oh: number; ow: number; kh: number; kw: number; sh: number; sw: number; cin: number };
  override build(inputShape: Any): void {
    const [kh, kw] = pair(this.k.kernel_size, 1);
    const [sh, sw] = pair(this.k.strides, 1);
    const [, h, w, cin] = inputShape as number[];
    const oh = Math.floor((h - kh) / sh) + 1;
    const ow = Math.floor((w - kw) / sw) + 1;
    const f = this.k.filters as number;
    this.geometry = { oh, ow, kh, kw, sh, sw, cin };
    this.kernel = this.weight('kernel', [oh * ow, kh * kw * cin, f]);
    if (this.k.use_bias !== false) this.bias = this.weight('bias', [oh, ow, f]);
    this.built = true;
  }
  call(inputs: Any): tf.Tensor {
    return tf.tidy(() => {
      const x = list(inputs)[0];
      const { oh, ow, kh, kw, sh, sw, cin } = this.geometry;
      const b = x.shape[0];
      // Keras local_conv (channels_last): for each output position (row-major), the window
      // x[:, i*sh : i*sh+kh, j*sw : j*sw+kw, :] flattened (row, col, channel), times that
      // position's own kernel slice: batch_dot(patches [P, b, k], kernel [P, k, f])
      const patches: tf.Tensor[] = [];
      for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) patches.push(tf.reshape(tf.slice(x, [0, i * sh, j * sw, 0], [b, kh, kw, cin]), [b, kh * kw * cin]));
      const out = tf.matMul(tf.stack(patches), this.kernel.read()); // [P, b, f]
      let y = tf.reshape(tf.transpose(out, [1, 0, 2]), [b, oh, ow, -1]);
      if (this.bias) y = tf.add(y, this.bias.read());
      return this.act()(y);
    });
  }
}

class KerasGlobalPooling2D extends FormulaLayer {
  static className = 'KerasGlobalPooling2D';
  call(inputs: Any): tf.Tensor {
    const x = list(inputs)[0];
    const keep = this.k.keepdims === true;
    return this.k.__mode === 'max' ? tf.max(x, [1, 2], keep) : tf.mean(x, [1, 2], keep);
  }
}

class KerasReLU extends FormulaLayer {
  static className = 'KerasReLU';
  call(inputs: Any): tf.Tensor {
    return tf.tidy(() => {
      let x = list(inputs)[0];
      const alpha = Number(this.k.negative_slope ?? 0);
      const maxValue = this.k.max_value === undefined || this.k.max_value === null ? null : Number(this.k.max_value);
      const threshold = Number(this.k.threshold ?? 0);
      // keras.backend.relu (Keras 2) / keras.activations.relu (Keras 3), step by step
      let negativePart: tf.Tensor | undefined;
      if (alpha !== 0) {
        if (maxValue === null && threshold === 0) return tf.leakyRelu(x, alpha);
        negativePart = threshold !== 0 ? tf.relu(tf.add(tf.neg(x), threshold)) : tf.relu(tf.neg(x));
      }
      let clipMax = maxValue !== null;
      // x * (x > threshold) as x * step(x - threshold): tfjs has no gradient for Greater, and step's is 0
      if (threshold !== 0) x = tf.mul(x, tf.step(tf.sub(x, threshold)));
      else if (maxValue === 6) {
        x = relu6(x);
        clipMax = false;
      } else x = tf.relu(x);
      if (clipMax) x = tf.clipByValue(x, 0, maxValue!);
      if (negativePart) x = tf.sub(x, tf.mul(alpha, negativePart));
      return x;
    });
  }
}

class KerasELU extends FormulaLayer {
  static className = 'KerasELU';
  call(inputs: Any): tf.Tensor {
    const x = list(inputs)[0];
    const alpha = Number(this.k.alpha ?? 1);
    // keras.backend.elu: tf.where(x > 0, elu(x), alpha * elu(x)), the condition as step(x)
    // (tfjs has no gradient for Greater, which a where on x would need)
    return tf.tidy(() => {
      const e = tf.elu(x);
      const m = tf.step(x);
      return tf.mul(e, tf.add(m, tf.mul(alpha, tf.sub(1, m))));
    });
  }
}

class KerasThresholdedReLU extends FormulaLayer {
  static className = 'KerasThresholdedReLU';
  call(inputs: Any): tf.Tensor {
    // x * (x > theta), as x * step(x - theta)
    const x = list(inputs)[0];
    return tf.tidy(() => tf.mul(x, tf.step(tf.sub(x, Number(this.k.theta ?? 1)))));
  }
}

class KerasSoftmax extends FormulaLayer {
  static className = 'KerasSoftmax';
  call(inputs: Any): tf.Tensor {
    // softmax along any axis: moved last, softmax, moved back
    return tf.tidy(() => {
      const x = list(inputs)[0];
      const a = Number(this.k.axis ?? -1) < 0 ? Number(this.k.axis ?? -1) + x.rank : Number(this.k.axis);
      const perm = [...Array(x.rank).keys()];
      [perm[a], perm[x.rank - 1]] = [perm[x.rank - 1], perm[a]];
      return tf.transpose(tf.softmax(tf.transpose(x, perm), -1), perm);
    });
  }
}

class KerasLayerNormalization extends FormulaLayer {
  static className = 'KerasLayerNormalization';
  private ws: Record<string, tfl.LayerVariable> = {};
  private axes: number[] = [];
  private bshape: number[] = [];
  override build(inputShape: Any): void {
    const rank = inputShape.length as number;
    const raw = this.k.axis;
    this.axes = (Array.isArray(raw) ? (raw as number[]) : [Number(raw ?? -1)]).map((a) => (a < 0 ? a + rank : a));
    // keras: gamma / beta of shape [input_shape[a] for a in axis], reshaped to broadcast
    const shape = this.axes.map((a) => inputShape[a] as number);
    this.bshape = Array.from({ length: rank }, (_, i) => (this.axes.includes(i) ? (inputShape[i] as number) : 1));
    if (this.k.scale !== false) this.ws.gamma = this.weight('gamma', shape);
    if (this.k.center !== false) this.ws.beta = this.weight('beta', shape);
    this.built = true;
  }
  call(inputs: Any): tf.Tensor {
    return tf.tidy(() => {
      const x = list(inputs)[0];
      const { mean, variance } = tf.moments(x, this.axes, true);
      let y = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, Number(this.k.epsilon ?? 1e-3))));
      if (this.ws.gamma) y = tf.mul(y, tf.reshape(this.ws.gamma.read(), this.bshape));
      if (this.ws.beta) y = tf.add(y, tf.reshape(this.ws.beta.read(), this.bshape));
      return y;
    });
  }
}

class KerasActivation extends FormulaLayer {
  static className = 'KerasActivation';
  call(inputs: Any): tf.Tensor {
    return tf.tidy(() => this.act()(list(inputs)[0]));
  }
}

/**
 * The matrix M [out, in] of tf.image.resize along one axis (half-pixel grid, no
 * antialiasing), so that resizing is M_rows . x . M_colsᵀ. Bilinear: TF's
 * compute_interpolation_weights with HalfPixelScaler (in = (o + 0.5) * scale - 0.5,
 * lower = max(floor(in), 0), upper = min(ceil(in), n - 1), lerp = in - floor(in),
 * in float32); nearest: resize_nearest_neighbor with half_pixel_centers
 * (min(floor((o + 0.5) * scale), n - 1)); legacy: TF 1's grid (in = o * scale, upper =
 * min(lower + 1, n - 1)), for Keras <= 2.2.
 */
export function resizeMatrix(inSize: number, outSize: number, method: 'bilinear' | 'nearest' | 'legacy-bilinear'): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const f = Math.fround;
  const scale = f(inSize / outSize);
  for (let o = 0; o < outSize; o++) {
    if (method === 'nearest') {
      const i = Math.min(Math.floor(f(f(o + 0.5) * scale)), inSize - 1);
      m[o * inSize + Math.max(i, 0)] = 1;
      continue;
    }
    const src = method === 'legacy-bilinear' ? f(o * scale) : f(f(f(o + 0.5) * scale) - 0.5);
    const fl = Math.floor(src);
    const lower = Math.max(fl, 0);
    const upper = method === 'legacy-bilinear' ? Math.min(fl + 1, inSize - 1) : Math.min(Math.ceil(src), inSize - 1);
    const lerp = f(src - fl);
    m[o * inSize + lower] += f(1 - lerp);
    m[o * inSize + upper] += lerp;
  }
  return m;
}

/** x [b, h, w, c] resized to [b, oh, ow, c] by two interpolation matrices (differentiable, any grid). */
function resizeByMatrices(x: tf.Tensor, oh: number, ow: number, method: 'bilinear' | 'nearest' | 'legacy-bilinear'): tf.Tensor {
  const [b, h, w, c] = x.shape;
  const rh = tf.tensor2d(resizeMatrix(h, oh, method), [oh, h]);
  const rw = tf.tensor2d(resizeMatrix(w, ow, method), [ow, w]);
  const a = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [b * c * h, w]);
  const t = tf.reshape(tf.matMul(a, rw, false, true), [b * c, h, ow]);
  const u = tf.reshape(tf.transpose(t, [0, 2, 1]), [b * c * ow, h]);
  const v = tf.reshape(tf.matMul(u, rh, false, true), [b, c, ow, oh]);
  return tf.transpose(v, [0, 3, 2, 1]);
}

/** Keras's smart_resize crop: the centred window of the target's aspect ratio. */
function cropToAspect(x: tf.Tensor, th: number, tw: number): tf.Tensor {
  const [b, h, w, c] = x.shape;
  const ch = Math.min(h, Math.trunc(Math.fround(Math.fround(w * th) / tw)));
  const cw = Math.min(w, Math.trunc(Math.fround(Math.fround(h * tw) / th)));
  const top = Math.trunc((h - ch) / 2);
  const left = Math.trunc((w - cw) / 2);
  return tf.slice(x, [0, top, left, 0], [b, ch, cw, c]);
}

class KerasResize extends FormulaLayer {
  static className = 'KerasResize';
  call(inputs: Any): tf.Tensor {
    return tf.tidy(() => {
      const x = list(inputs)[0];
      const [, h, w] = x.shape;
      const mode = this.k.__mode;
      if (mode === 'upsampling') {
        const [sh, sw] = pair(this.k.size, 2);
        return resizeByMatrices(x, h * sh, w * sw, this.k.__legacy === true ? 'legacy-bilinear' : (this.k.interpolation as 'bilinear' | 'nearest'));
      }
      const th = this.k.height as number;
      const tw = this.k.width as number;
      if (mode === 'centercrop') {
        // keras.layers.CenterCrop: slice when the input is at least the target, else smart_resize
        if (h >= th && w >= tw) return tf.slice(x, [0, Math.trunc((h - th) / 2), Math.trunc((w - tw) / 2), 0], [-1, th, tw, -1]);
        return resizeByMatrices(cropToAspect(x, th, tw), th, tw, 'bilinear');
      }
      // keras.layers.Resizing: tf.image.resize (after smart_resize's crop when crop_to_aspect_ratio)
      const src = this.k.crop_to_aspect_ratio === true ? cropToAspect(x, th, tw) : x;
      return resizeByMatrices(src, th, tw, String(this.k.interpolation ?? 'bilinear') as 'bilinear' | 'nearest');
    });
  }
}

/** A kernel [kh, kw, a, b] with d - 1 zeros between taps: the dilated convolution's kernel at dilation 1. */
function spreadKernel(k: tf.Tensor, [dh, dw]: [number, number]): tf.Tensor {
  const [kh, kw, a, b] = k.shape;
  const r = tf.reshape(k, [kh, 1, kw, 1, a, b]);
  const p = tf.pad(r, [[0, 0], [0, dh - 1], [0, 0], [0, dw - 1], [0, 0], [0, 0]]);
  return tf.slice(tf.reshape(p, [kh * dh, kw * dw, a, b]), [0, 0, 0, 0], [(kh - 1) * dh + 1, (kw - 1) * dw + 1, a, b]);
}

class GroupedConv2D extends FormulaLayer {
  static className = 'GroupedConv2D';
  private kernel!: tfl.LayerVariable;
  private bias?: tfl.LayerVariable;
  override build(inputShape: Any): void {
    const [kh, kw] = pair(this.k.kernel_size, 1);
    const g = Number(this.k.groups ?? 1);
    this.kernel = this.weight('kernel', [kh, kw, (inputShape[3] as number) / g, this.k.filters as number]);
    if (this.k.use_bias !== false) this.bias = this.weight('bias', [this.k.filters as number]);
    this.built = true;
  }
  call(inputs: Any): tf.Tensor {
    return tf.tidy(() => {
      const x = list(inputs)[0];
      const g = Number(this.k.groups ?? 1);
      const k = spreadKernel(this.kernel.read(), pair(this.k.dilation_rate, 1));
      // tf.nn.conv2d with groups: group i maps input channels [i cin/g, (i+1) cin/g) to filters [i f/g, (i+1) f/g)
      const xs = tf.split(x, g, 3);
      const ks = tf.split(k, g, 3);
      const pad = String(this.k.padding ?? 'valid') as 'valid' | 'same';
      let y = tf.concat(
        xs.map((xi, i) => tf.conv2d(xi as tf.Tensor4D, ks[i] as tf.Tensor4D, pair(this.k.strides, 1), pad)),
        3,
      );
      if (this.bias) y = tf.add(y, this.bias.read());
      return this.act()(y);
    });
  }
}

class KerasConv2DTranspose extends FormulaLayer {
  static className = 'KerasConv2DTranspose';
  private kernel!: tfl.LayerVariable;
  private bias?: tfl.LayerVariable;
  override build(inputShape: Any): void {
    const [kh, kw] = pair(this.k.kernel_size, 1);
    this.kernel = this.weight('kernel', [kh, kw, this.k.filters as number, inputShape[3] as number]);
    if (this.k.use_bias !== false) this.bias = this.weight('bias', [this.k.filters as number]);
    this.built = true;
  }
  call(inputs: Any): tf.Tensor {
    return tf.tidy(() => {
      const x = list(inputs)[0] as tf.Tensor4D;
      const [kh, kw] = pair(this.k.kernel_size, 1);
      const [sh, sw] = pair(this.k.strides, 1);
      const padding = String(this.k.padding ?? 'valid') as 'valid' | 'same';
      const op = this.k.output_padding === undefined || this.k.output_padding === null ? null : pair(this.k.output_padding, 0);
      // keras conv_utils.deconv_output_length
      const len = (n: number, k: number, s: number, p: number | null) =>
        p === null ? (padding === 'valid' ? n * s + Math.max(k - s, 0) : n * s) : (n - 1) * s + k - 2 * (padding === 'same' ? Math.floor(k / 2) : 0) + p;
      const shape: [number, number, number, number] = [x.shape[0], len(x.shape[1], kh, sh, op && op[0]), len(x.shape[2], kw, sw, op && op[1]), this.k.filters as number];
      let y: tf.Tensor = tf.conv2dTranspose(x, this.kernel.read() as tf.Tensor4D, shape, [sh, sw], padding);
      if (this.bias) y = tf.add(y, this.bias.read());
      return this.act()(y);
    });
  }
}

class KerasDilatedConv extends FormulaLayer {
  static className = 'KerasDilatedConv';
  private ws: Record<string, tfl.LayerVariable> = {};
  override build(inputShape: Any): void {
    const [kh, kw] = pair(this.k.kernel_size, 1);
    const cin = inputShape[3] as number;
    const m = Number(this.k.depth_multiplier ?? 1);
    const f = this.k.filters as number;
    const kind = this.k.__kind;
    if (kind === 'Conv2D') this.ws.kernel = this.weight('kernel', [kh, kw, cin, f]);
    else this.ws.depthwise_kernel = this.weight('depthwise_kernel', [kh, kw, cin, m]);
    if (kind === 'SeparableConv2D') this.ws.pointwise_kernel = this.weight('pointwise_kernel', [1, 1, cin * m, f]);
    if (this.k.use_bias !== false) this.ws.bias = this.weight('bias', [kind === 'DepthwiseConv2D' ? cin * m : f]);
    this.built = true;
  }
  call(inputs: Any): tf.Tensor {
    return tf.tidy(() => {
      const x = list(inputs)[0] as tf.Tensor4D;
      const d = pair(this.k.dilation_rate, 1);
      const s = pair(this.k.strides, 1);
      const pad = String(this.k.padding ?? 'valid') as 'valid' | 'same';
      let y: tf.Tensor;
      if (this.ws.kernel) y = tf.conv2d(x, spreadKernel(this.ws.kernel.read(), d) as tf.Tensor4D, s, pad);
      else {
        y = tf.depthwiseConv2d(x, spreadKernel(this.ws.depthwise_kernel.read(), d) as tf.Tensor4D, s, pad);
        if (this.ws.pointwise_kernel) y = tf.conv2d(y as tf.Tensor4D, this.ws.pointwise_kernel.read() as tf.Tensor4D, 1, 'valid');
      }
      if (this.ws.bias) y = tf.add(y, this.ws.bias.read());
      return this.act()(y);
    });
  }
}

class KerasAveragePooling2D extends FormulaLayer {
  static className = 'KerasAveragePooling2D';
  call(inputs: Any): tf.Tensor {
    return tf.tidy(() => {
      const x = list(inputs)[0] as tf.Tensor4D;
      const [kh, kw] = pair(this.k.pool_size, 2);
      const [sh, sw] = this.k.strides === null || this.k.strides === undefined ? [kh, kw] : pair(this.k.strides, 1);
      // TF's 'same' padding: total = max((ceil(n / s) - 1) s + k - n, 0), before = floor(total / 2)
      const pads = ([n, k, s]: number[]) => {
        const total = Math.max((Math.ceil(n / s) - 1) * s + k - n, 0);
        return [Math.floor(total / 2), total - Math.floor(total / 2)] as [number, number];
      };
      const ph = pads([x.shape[1], kh, sh]);
      const pw = pads([x.shape[2], kw, sw]);
      const padded = tf.pad(x, [[0, 0], ph, pw, [0, 0]]);
      const ones = tf.pad(tf.ones([1, x.shape[1], x.shape[2], 1]), [[0, 0], ph, pw, [0, 0]]) as tf.Tensor4D;
      // the average of the window's real values: sum over the window / number of real values in it
      const sum = tf.mul(tf.avgPool(padded as tf.Tensor4D, [kh, kw], [sh, sw], 'valid'), kh * kw);
      const count = tf.mul(tf.avgPool(ones, [kh, kw], [sh, sw], 'valid'), kh * kw);
      return tf.div(sum, count);
    });
  }
}

class KerasBatchNormalization extends FormulaLayer {
  static className = 'KerasBatchNormalization';
  private ws: Record<string, tfl.LayerVariable> = {};
  override build(inputShape: Any): void {
    const n = inputShape[inputShape.length - 1] as number;
    if (this.k.scale !== false) this.ws.gamma = this.weight('gamma', [n]);
    if (this.k.center !== false) this.ws.beta = this.weight('beta', [n]);
    this.ws.moving_mean = this.weight('moving_mean', [n]);
    this.ws.moving_variance = this.weight('moving_variance', [n]);
    this.built = true;
  }
  call(inputs: Any): tf.Tensor {
    return tf.tidy(() => {
      const x = list(inputs)[0];
      const eps = Number(this.k.epsilon ?? 1e-3);
      let y = tf.div(tf.sub(x, this.ws.moving_mean.read()), tf.sqrt(tf.add(this.ws.moving_variance.read(), eps)));
      if (this.ws.gamma) y = tf.mul(y, this.ws.gamma.read());
      if (this.ws.beta) y = tf.add(y, this.ws.beta.read());
      return y;
    });
  }
}

const CUSTOM_CLASSES = [
  KerasBatchNormalization,
  KerasThresholdedReLU,
  KerasSoftmax,
  KerasLayerNormalization,
  TFOpLambda,
  SlicingOpLambda,
  KerasInferenceIdentity,
  KerasAutoContrast,
  Subtract,
  Normalization,
  LocallyConnected2D,
  KerasGlobalPooling2D,
  KerasReLU,
  KerasELU,
  KerasActivation,
  KerasResize,
  GroupedConv2D,
  KerasConv2DTranspose,
  KerasDilatedConv,
  KerasAveragePooling2D,
];
let registered = false;
function registerClasses(): void {
  if (registered) return;
  registered = true;
  for (const c of CUSTOM_CLASSES) tf.serialization.registerClass(c as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);
}

// ---------------------------------------------------------------------------------
// The JSON made readable to tfjs

/** Keras identities at inference that tfjs lacks or runs differently (RandomWidth / RandomHeight are random in tfjs even at inference). */
const INFERENCE_IDENTITIES = new Set([
  'SpatialDropout2D', 'SpatialDropout3D', 'ActivityRegularization',
  'RandomFlip', 'RandomRotation', 'RandomZoom', 'RandomTranslation', 'RandomContrast', 'RandomBrightness', 'RandomHeight', 'RandomWidth',
  'RandomColorJitter', 'RandomGrayscale', 'RandomHue', 'RandomSaturation', 'RandomSharpness', 'RandomShear', 'RandomPosterization',
  'RandomInvert', 'RandomColorDegeneration', 'RandomErasing', 'RandomGaussianBlur', 'RandomPerspective', 'RandomCrop',
]);

interface TransformContext {
  kerasVersion: string;
  substitutions: Map<string, string>;
}

const kerasMinor = (v: string): [number, number] => {
  const m = /^(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : [2, 99];
};

/** The class tfjs should build for one Keras layer (its own, or one written here), with the config it gets. */
function tfjsLayer(cls: string, cfg: Json, ctx: TransformContext): { cls: string; cfg: Json; why?: string } {
  const formula = (name: string, extra: Json = {}) => {
    const keep: Json = { name: cfg.name, trainable: cfg.trainable ?? true };
    if (cfg.batch_input_shape) keep.batch_input_shape = cfg.batch_input_shape;
    return { cls: name, cfg: { ...keep, payload: encode({ ...cfg, ...extra, __keras_version: ctx.kerasVersion }) }, why: KERAS_FORMULA_CLASSES[name] };
  };
  const dilated = (v: unknown) => pair(v, 1).some((d) => d > 1);
  const [maj, min] = kerasMinor(ctx.kerasVersion);
  switch (cls) {
    case 'TFOpLambda':
    case 'SlicingOpLambda':
    case 'Subtract':
    case 'Normalization':
    case 'LocallyConnected2D':
      return formula(cls);
    case 'AutoContrast':
      return formula('KerasAutoContrast');
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D':
      return cfg.keepdims === true ? formula('KerasGlobalPooling2D', { __mode: cls === 'GlobalMaxPooling2D' ? 'max' : 'avg' }) : { cls, cfg };
    case 'ReLU':
      return Number(cfg.negative_slope ?? 0) !== 0 || Number(cfg.threshold ?? 0) !== 0 ? formula('KerasReLU') : { cls, cfg };
    case 'ELU':
      return Number(cfg.alpha ?? 1) !== 1 ? formula('KerasELU') : { cls, cfg };
    case 'ThresholdedReLU':
      return formula('KerasThresholdedReLU');
    case 'Softmax':
      return Number(cfg.axis ?? -1) !== -1 ? formula('KerasSoftmax') : { cls, cfg };
    case 'LayerNormalization':
      return cfg.center === false || cfg.scale === false ? formula('KerasLayerNormalization') : { cls, cfg };
    case 'Activation': {
      const a = String(cfg.activation).toLowerCase();
      return !TFJS_ACTIVATIONS.has(a) || (a === 'hard_sigmoid' && maj >= 3) ? formula('KerasActivation') : { cls, cfg };
    }
    case 'UpSampling2D':
      // bilinear: Keras >= 2.3 on TF 2's half-pixel grid, Keras <= 2.2 (and tfjs's forward) on TF 1's;
      // nearest repeats pixels on either. Matrices here because of tfjs-cpu's resize gradients.
      return formula('KerasResize', { __mode: 'upsampling', __legacy: cfg.interpolation === 'bilinear' && !(maj > 2 || (maj === 2 && min >= 3)) });
    case 'Resizing':
      return formula('KerasResize', { __mode: 'resizing' });
    case 'CenterCrop':
      return formula('KerasResize', { __mode: 'centercrop' });
    case 'Conv2D':
      if (Number(cfg.groups ?? 1) > 1) return formula('GroupedConv2D');
      return dilated(cfg.dilation_rate) ? formula('KerasDilatedConv', { __kind: cls }) : { cls, cfg };
    case 'DepthwiseConv2D':
    case 'SeparableConv2D':
      return dilated(cfg.dilation_rate) ? formula('KerasDilatedConv', { __kind: cls }) : { cls, cfg };
    case 'Conv2DTranspose':
      return cfg.output_padding !== undefined && cfg.output_padding !== null ? formula('KerasConv2DTranspose') : { cls, cfg };
    case 'AveragePooling2D':
      return String(cfg.padding ?? 'valid') === 'same' ? formula('KerasAveragePooling2D') : { cls, cfg };
    case 'BatchNormalization':
      if (cfg.scale === false || cfg.center === false) return formula('KerasBatchNormalization');
      // an axis list of one ([3], tf.keras >= 2.4) as the integer tfjs expects
      return Array.isArray(cfg.axis) && cfg.axis.length === 1 ? { cls, cfg: { ...cfg, axis: cfg.axis[0] } } : { cls, cfg };
    default:
      return INFERENCE_IDENTITIES.has(cls) ? formula('KerasInferenceIdentity') : { cls, cfg };
  }
}

/** Tensor references inside call kwargs become `{input: k}` and extra node inputs (k counts from 1). */
function extractTensorKwargs(v: unknown, refs: unknown[][]): unknown {
  if (isRef(v)) {
    refs.push([v[0], v[1], v[2], {}]);
    return { input: refs.length - 1 };
  }
  if (Array.isArray(v)) return v.map((x) => extractTensorKwargs(x, refs));
  if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, extractTensorKwargs(x, refs)]));
  return v;
}

/** Regularisers and constraints act only in training (and tfjs lacks some, e.g. Keras's `L2` class). */
const withoutTrainingOnly = (cfg: Json): Json => Object.fromEntries(Object.entries(cfg).map(([k, v]) => [k, /_(regularizer|constraint)$/.test(k) ? null : v]));

function transformLayer(entry: Json, ctx: TransformContext, path: string): Json {
  const cls = String(entry.class_name);
  const cfg = withoutTrainingOnly((isObject(entry.config) ? entry.config : {}) as Json);
  const name = String(entry.name ?? cfg.name);
  if (MODEL_CLASSES.has(cls)) return { ...entry, config: transformModelConfig(cls, cfg, ctx, `${path}${name}/`) };
  let nodes: unknown = entry.inbound_nodes;
  let callKwargs: Json | undefined;
  if (Array.isArray(nodes)) {
    if (isRef(nodes)) nodes = [nodes];
    nodes = (nodes as unknown[]).map((node) => {
      if (isObject(node)) return keras3Node(node);
      const refs = (isRef(node) ? [node] : (node as unknown[])) as unknown[][];
      const out: unknown[][] = refs.map((r) => [r[0], r[1], r[2], {}]);
      if (cls === 'TFOpLambda' || cls === 'SlicingOpLambda') {
        const kw = isObject(refs[0]?.[3]) ? (refs[0][3] as Json) : {};
        callKwargs = extractTensorKwargs(kw, out) as Json;
      }
      return out;
    });
    if (callKwargs && (nodes as unknown[]).length > 1) throw new Error(`tfjs_keras: '${name}' (${cls}) is called more than once`);
  }
  const t = tfjsLayer(cls, callKwargs ? { ...cfg, call_kwargs: callKwargs } : cfg, ctx);
  if (t.why) ctx.substitutions.set(path + name, `${cls} -> ${t.cls}`);
  const out: Json = { ...entry, class_name: t.cls, config: t.cfg };
  if (nodes !== undefined) out.inbound_nodes = nodes;
  return out;
}

function transformModelConfig(cls: string, cfg: unknown, ctx: TransformContext, path: string): unknown {
  if (Array.isArray(cfg)) return { name: 'sequential', layers: cfg.map((e) => transformLayer(e as Json, ctx, path)) };
  const c = cfg as Json;
  const out: Json = { ...c, layers: (c.layers as Json[]).map((e) => transformLayer(e, ctx, path)) };
  if (cls !== 'Sequential') {
    // Keras 3 writes a single input / output as one flat reference
    for (const k of ['input_layers', 'output_layers']) if (isRef(c[k])) out[k] = [c[k]];
  }
  return out;
}

/** The Keras config rewritten for tfjs-layers (see the module comment), with the layers given formula classes. */
export function tfjsTopology(config: unknown, o: { kerasVersion?: string } = {}): { topology: Json; substitutions: Map<string, string> } {
  registerClasses();
  let top = unwrapTuples(JSON.parse(JSON.stringify(config))) as Json;
  if (isObject(top.modelTopology)) top = top.modelTopology as Json;
  if (isObject(top.model_config)) top = top.model_config as Json;
  const kerasVersion = o.kerasVersion ?? (typeof top.keras_version === 'string' ? top.keras_version : '2');
  top = keras3ToKeras2(top) as Json;
  const ctx: TransformContext = { kerasVersion, substitutions: new Map() };
  const topology = { ...top, config: transformModelConfig(String(top.class_name), top.config, ctx, '') };
  return { topology, substitutions: ctx.substitutions };
}

// ---------------------------------------------------------------------------------
// A faster tfjs-cpu kernel for the convolution's input gradient

const originalKernels = new Map<string, tf.KernelConfig>();

/** A tfjs-cpu kernel computed by other tfjs-cpu kernels, called the way tfjs kernels call each other. */
type Composite = (run: (name: string, inputs: Any, attrs: Any) => Any, args: Any) => Any | undefined;

function replaceKernel(name: string, on: boolean, composite: Composite): void {
  if (!originalKernels.has(name)) originalKernels.set(name, tf.getKernel(name, 'cpu')!);
  const original = originalKernels.get(name)!;
  tf.unregisterKernel(name, 'cpu');
  if (!on) {
    tf.registerKernel(original);
    return;
  }
  tf.registerKernel({
    kernelName: name,
    backendName: 'cpu',
    kernelFunc: (args: Any) => {
      const { attrs, backend } = args;
      const dil = attrs.dilations ?? [1, 1];
      const plain = (attrs.dataFormat === undefined || attrs.dataFormat === 'NHWC') && attrs.dimRoundingMode == null && (dil === 1 || (dil[0] === 1 && dil[1] === 1)) && (attrs.pad === 'same' || attrs.pad === 'valid');
      if (!plain) return original.kernelFunc(args);
      const temps: Any[] = [];
      const run = (k: string, inputs: Any, a: Any) => {
        const r = (tf.getKernel(k, 'cpu')!.kernelFunc as Any)({ inputs, backend, attrs: a });
        temps.push(r);
        return r;
      };
      const out = composite(run, args);
      for (const t of temps) if (t !== out) backend.disposeIntermediateTensorInfo(t);
      return out;
    },
  });
}

/** TF's padding before the first row for a window of k with stride s over n values giving o outputs. */
const padBefore = (pad: string, n: number, o: number, k: number, s: number) => (pad === 'valid' ? 0 : Math.floor(Math.max((o - 1) * s + k - n, 0) / 2));
const pairOf = (v: number | number[]): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

/**
 * dx as a forward convolution: dy spread by the stride (s - 1 zeros between rows and
 * columns), padded by k - 1 - pad_before before and whatever makes the result the
 * input's size after, convolved (stride 1, 'valid') with the kernel flipped in rows
 * and columns and its channel axes swapped.
 */
const backpropInputByConv: Composite = (run, { inputs: { dy, filter }, attrs, backend }) => {
  const [b, h, w] = attrs.inputShape as number[];
  const [kh, kw, , cout] = filter.shape as number[];
  const [, oh, ow] = dy.shape as number[];
  const [sh, sw] = pairOf(attrs.strides);
  let d = dy;
  if (sh > 1 || sw > 1) {
    const r = run('Reshape', { x: dy }, { shape: [b, oh, 1, ow, 1, cout] });
    const p = run('PadV2', { x: r }, { paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 });
    const r2 = run('Reshape', { x: p }, { shape: [b, oh * sh, ow * sw, cout] });
    d = run('Slice', { x: r2 }, { begin: [0, 0, 0, 0], size: [b, (oh - 1) * sh + 1, (ow - 1) * sw + 1, cout] });
  }
  const [, dh, dw] = d.shape as number[];
  const top = kh - 1 - padBefore(attrs.pad, h, oh, kh, sh);
  const left = kw - 1 - padBefore(attrs.pad, w, ow, kw, sw);
  const bottom = h + kh - 1 - dh - top;
  const right = w + kw - 1 - dw - left;
  const padded = run('PadV2', { x: d }, { paddings: [[0, 0], [Math.max(top, 0), Math.max(bottom, 0)], [Math.max(left, 0), Math.max(right, 0)], [0, 0]], constantValue: 0 });
  // negative padding (rows of dy that no input row reaches) is a crop
  const cropped = run('Slice', { x: padded }, { begin: [0, Math.max(-top, 0), Math.max(-left, 0), 0], size: [b, dh + top + bottom, dw + left + right, cout] });
  // the kernel flipped in rows and columns with its channel axes swapped, in one pass
  // (tfjs-cpu's Reverse kernel goes element by element through index objects: 20 s for VGG16)
  const [, , cin] = filter.shape as number[];
  const src = backend.data.get(filter.dataId).values as Float32Array;
  const dst = new Float32Array(src.length);
  for (let p = 0; p < kh; p++)
    for (let q = 0; q < kw; q++) {
      const from = ((kh - 1 - p) * kw + (kw - 1 - q)) * cin * cout;
      const to = (p * kw + q) * cout * cin;
      for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) dst[to + o * cin + i] = src[from + i * cout + o];
    }
  const flipped = backend.makeTensorInfo([kh, kw, cout, cin], 'float32', dst);
  const out = run('Conv2D', { x: cropped, filter: flipped }, { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1] });
  backend.disposeIntermediateTensorInfo(flipped);
  return out;
};

/** Set while {@link TfjsKerasModel.inputGradient} runs tf.grad with respect to the input alone. */
let onlyInputGradient = false;

/**
 * dW[p, q] = (the input window shifted by (p, q), strided)ᵀ . dy: one matrix product
 * per kernel tap. Inside an input-gradient computation (tf.grad of the input alone)
 * zeros: tfjs's fused convolution computes the filter gradient in its custom gradient
 * even when nothing asks for it, and the tape drops it (no Keras layer's kernel depends
 * on the input).
 */
const backpropFilterByMatmul: Composite = (run, { inputs: { x, dy }, attrs }) => {
  const [kh, kw, cin, cout] = attrs.filterShape as number[];
  if (onlyInputGradient) return run('Fill', {}, { shape: [kh, kw, cin, cout], value: 0, dtype: 'float32' });
  const [b, h, w] = x.shape as number[];
  const [, oh, ow] = dy.shape as number[];
  const [sh, sw] = pairOf(attrs.strides);
  const pt = padBefore(attrs.pad, h, oh, kh, sh);
  const pl = padBefore(attrs.pad, w, ow, kw, sw);
  const needH = (oh - 1) * sh + kh;
  const needW = (ow - 1) * sw + kw;
  const xp = run('PadV2', { x }, { paddings: [[0, 0], [pt, Math.max(needH - h - pt, 0)], [pl, Math.max(needW - w - pl, 0)], [0, 0]], constantValue: 0 });
  const n = b * oh * ow;
  const dyr = run('Reshape', { x: dy }, { shape: [1, n, cout] });
  const taps: Any[] = [];
  for (let p = 0; p < kh; p++) {
    for (let q = 0; q < kw; q++) {
      const win = run('StridedSlice', { x: xp }, { begin: [0, p, q, 0], end: [b, p + (oh - 1) * sh + 1, q + (ow - 1) * sw + 1, cin], strides: [1, sh, sw, 1], beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0 });
      const xr = run('Reshape', { x: win }, { shape: [1, n, cin] });
      taps.push(run('BatchMatMul', { a: xr, b: dyr }, { transposeA: true, transposeB: false }));
    }
  }
  const cat = run('Concat', taps, { axis: 0 });
  return run('Reshape', { x: cat }, { shape: [kh, kw, cin, cout] });
};

/**
 * Swaps tfjs-cpu's Conv2DBackpropInput and Conv2DBackpropFilter kernels (direct loop
 * nests, ~50x slower than its forward convolution: Tiny Darknet's input gradient at
 * 224x224 took 95 s with them, 84 s of it in the filter gradient that tfjs's fused
 * convolution computes even when only dx is asked for; 5 s with these) for the same
 * sums in another order, made of tfjs-cpu's own kernels: dx as a forward convolution
 * with the flipped kernel, dW as one matrix product per kernel tap (zeros where it is
 * thrown away, see backpropFilterByMatmul). Dilation 1 and NHWC only; anything
 * else runs the original kernel. `false` puts the originals back (the tests check one
 * against the other).
 */
export function setFastConvolutionGradients(on: boolean): void {
  replaceKernel('Conv2DBackpropInput', on, backpropInputByConv);
  replaceKernel('Conv2DBackpropFilter', on, backpropFilterByMatmul);
}

// ---------------------------------------------------------------------------------
// The model, its weights, and running it layer by layer

/** Per layer path: additions to the layer's (first) input at flat indices. */
export type Nudges = Map<string, { index: number[]; delta: number[] }>;

export interface HostTensor {
  shape: number[];
  values: Float32Array;
}

export interface TfjsKerasModel {
  model: tfl.LayersModel;
  /** Layer path -> 'Class -> FormulaClass' for the layers computed by a class written here. */
  substitutions: Map<string, string>;
  /** Layer paths whose weights were set, and how many values in all. */
  weightedLayers: string[];
  weightValues: number;
  /** tfjs's own parameter count of the model. */
  countParams(): number;
  /** Every layer's output (convscope's path names), from one run through tfjs's node graph. */
  outputs(x: HostTensor): Map<string, HostTensor>;
  /** {@link outputs}, read back with `data()` (tfjs-webgpu in Node reads only asynchronously). */
  outputsAsync(x: HostTensor): Promise<Map<string, HostTensor>>;
  /** tfjs's own executor (model.predict) on x: the model's first output. */
  predict(x: HostTensor): HostTensor;
  /**
   * d score / d input by tf.grad through the layer-by-layer run; score gets the model's
   * outputs and every layer's. `nudges` (see {@link kinkFlips}) are added to the inputs
   * of the layers they name.
   */
  inputGradient(x: HostTensor, score: (outputs: tf.Tensor[], layers: Map<string, tf.Tensor>) => tf.Scalar, nudges?: Nudges): HostTensor;
  /** {@link outputs} and {@link inputGradient} from one pass (the layer outputs are those of the gradient's forward pass). */
  outputsAndGradient(
    x: HostTensor,
    score: (outputs: tf.Tensor[], layers: Map<string, tf.Tensor>) => tf.Scalar,
    nudges?: Nudges,
  ): { outputs: Map<string, HostTensor>; gradient: HostTensor };
  /** {@link outputsAndGradient}, and also d score / d (the output of layer `wrt`). */
  outputsAndGradients(
    x: HostTensor,
    score: (outputs: tf.Tensor[], layers: Map<string, tf.Tensor>) => tf.Scalar,
    wrt: string,
    nudges?: Nudges,
  ): { outputs: Map<string, HostTensor>; gradient: HostTensor; layerGradient: HostTensor };
  /** {@link outputsAndGradient} and the score's value, read back with `data()` (nothing is read synchronously: tfjs-webgpu). */
  outputsAndGradientAsync(
    x: HostTensor,
    score: (outputs: tf.Tensor[], layers: Map<string, tf.Tensor>) => tf.Scalar,
    nudges?: Nudges,
  ): Promise<{ outputs: Map<string, HostTensor>; gradient: HostTensor; value: number }>;
  /** {@link outputsAndGradients} and the score's value, read back with `data()`. */
  outputsAndGradientsAsync(
    x: HostTensor,
    score: (outputs: tf.Tensor[], layers: Map<string, tf.Tensor>) => tf.Scalar,
    wrt: string,
    nudges?: Nudges,
  ): Promise<{ outputs: Map<string, HostTensor>; gradient: HostTensor; layerGradient: HostTensor; value: number }>;
  dispose(): void;
}

const isContainer = (l: Any): boolean => l instanceof tfl.LayersModel;

/** The container whose node graph a model runs (a Sequential's inner functional model). */
function graphOf(m: Any): Any {
  if (m instanceof tfl.Sequential) {
    const s = m as Any;
    if (!s.model) s.build(s.inputs[0].shape);
    return s.model;
  }
  return m;
}

/** Every leaf layer with its convscope path, nested models entered. */
function leafLayers(m: Any, prefix: string, out: [string, Any][] = []): [string, Any][] {
  for (const l of m.layers as Any[]) {
    if (isContainer(l)) leafLayers(l, `${prefix}${l.name}/`, out);
    else out.push([prefix + l.name, l]);
  }
  return out;
}

/** The paths of the InputLayers of a tfjs model, nested models' included (their outputs are the inputs themselves). */
export function inputLayerPaths(m: tfl.LayersModel): Set<string> {
  return new Set(leafLayers(m, '').filter(([, l]) => l.getClassName() === 'InputLayer').map(([p]) => p));
}

/** Runs container m on xs, recording every layer's first output under its path. */
function runContainer(m: Any, xs: tf.Tensor[], prefix: string, record: Map<string, tf.Tensor>, nudges?: Nudges, offsets?: Map<string, tf.Tensor>): tf.Tensor[] {
  const g = graphOf(m);
  const values = new Map<number, tf.Tensor>();
  (g.inputs as Any[]).forEach((s, i) => values.set(s.id, xs[i]));
  const depths = Object.keys(g.nodesByDepth).map(Number).sort((a, b) => b - a);
  const mine = new Set<Any>(depths.flatMap((d) => g.nodesByDepth[d]));
  for (const d of depths) {
    for (const node of g.nodesByDepth[d] as Any[]) {
      const layer = node.outboundLayer;
      if (layer instanceof tfl.layers.Layer && layer.getClassName() === 'InputLayer') {
        const v = values.get(node.outputTensors[0].id);
        if (v) record.set(prefix + layer.name, v);
        continue;
      }
      const call = (layer.inboundNodes as Any[]).filter((n) => mine.has(n)).indexOf(node);
      const name = prefix + layer.name + (call > 0 ? `@${call}` : '');
      const ins = (node.inputTensors as Any[]).map((t) => {
        const v = values.get(t.id);
        if (!v) throw new Error(`tfjs_keras: input of '${name}' not computed yet`);
        return v;
      });
      const nudge = nudges?.get(name);
      if (nudge) {
        const d = new Float32Array(ins[0].size);
        nudge.index.forEach((i, k) => (d[i] = nudge.delta[k]));
        ins[0] = tf.add(ins[0], tf.tensor(d, ins[0].shape));
      }
      const ys = isContainer(layer) ? runContainer(layer, ins, `${name}/`, record, nudges, offsets) : list(layer.apply(ins.length === 1 ? ins[0] : ins, {}));
      // a zero added to a layer's output: the gradient with respect to that output
      const offset = offsets?.get(name);
      if (offset) ys[0] = tf.add(ys[0], offset);
      (node.outputTensors as Any[]).forEach((t, j) => values.set(t.id, ys[j]));
      record.set(name, ys[0]);
    }
  }
  return (g.outputs as Any[]).map((t) => values.get(t.id)!);
}

/** Runs f in a tfjs scope that releases every tensor it made (f returns host values). */
function scoped<T>(f: () => T): T {
  tf.engine().startScope();
  try {
    return f();
  } finally {
    tf.engine().endScope();
  }
}

const host = (t: tf.Tensor): HostTensor => ({ shape: [...t.shape], values: Float32Array.from(t.dataSync() as Float32Array) });

type Score = (outputs: tf.Tensor[], layers: Map<string, tf.Tensor>) => tf.Scalar;
/** The tensors of one pass, kept (every one in `kept`) until read back. */
interface KeptPass {
  outputs: Map<string, tf.Tensor>;
  gradient?: tf.Tensor;
  layerGradient?: tf.Tensor;
  value?: tf.Tensor;
  kept: tf.Tensor[];
}
interface HostPass {
  outputs: Map<string, HostTensor>;
  gradient?: HostTensor;
  layerGradient?: HostTensor;
  value?: number;
}
function readSync(p: KeptPass): HostPass {
  try {
    return {
      outputs: new Map([...p.outputs].map(([k, v]) => [k, host(v)])),
      gradient: p.gradient && host(p.gradient),
      layerGradient: p.layerGradient && host(p.layerGradient),
      value: p.value && (p.value.dataSync() as Float32Array)[0],
    };
  } finally {
    tf.dispose(p.kept);
  }
}
/**
 * {@link readSync} with `data()`: tfjs-webgpu in Node has no synchronous read (its
 * dataSync goes through OffscreenCanvas). A tensor kept under several names is read once.
 */
async function readAsync(p: KeptPass): Promise<HostPass> {
  try {
    const cache = new Map<tf.Tensor, Promise<HostTensor>>();
    const read = (t: tf.Tensor): Promise<HostTensor> => {
      let v = cache.get(t);
      if (!v) {
        v = t.data().then((d) => ({ shape: [...t.shape], values: Float32Array.from(d as Float32Array) }));
        cache.set(t, v);
      }
      return v;
    };
    const names = [...p.outputs.keys()];
    const values = await Promise.all(names.map((k) => read(p.outputs.get(k)!)));
    return {
      outputs: new Map(names.map((k, i) => [k, values[i]])),
      gradient: p.gradient && (await read(p.gradient)),
      layerGradient: p.layerGradient && (await read(p.layerGradient)),
      value: p.value && (await read(p.value)).values[0],
    };
  } finally {
    tf.dispose(p.kept);
  }
}

/**
 * Builds the tfjs model from a Keras config (the `{class_name, config}` object, or
 * anything wrapping it) and sets every weight from `weights` (convscope's canonical
 * arrays by layer path, with roles). Throws if a tfjs weight has no counterpart or a
 * convscope array is left over.
 */
export async function tfjsKerasModel(
  config: unknown,
  weights: Map<string, WeightArray[]>,
  o: { kerasVersion?: string; reference?: ReferenceName } = {},
): Promise<TfjsKerasModel> {
  const reference = await useReference(o.reference ?? 'tfjs-cpu');
  registerClasses();
  if (reference === 'tfjs-cpu') setFastConvolutionGradients(true);
  const { topology, substitutions } = tfjsTopology(config, o);
  const model = (await tfl.models.modelFromJSON({ modelTopology: topology } as Any)) as tfl.LayersModel;
  let weightValues = 0;
  const weightedLayers: string[] = [];
  try {
    for (const [path, layer] of leafLayers(model, '')) {
      if (layer.weights.length === 0) continue;
      const ours = weights.get(path);
      if (!ours) throw new Error(`tfjs_keras: tfjs layer '${path}' has weights, convscope has none under that name`);
      const used = new Set<WeightArray>();
      const arrays = (layer.weights as Any[]).map((w) => {
        const role = String(w.originalName).split('/').pop()!;
        const a = ours.find((x) => x.role === role);
        if (!a) throw new Error(`tfjs_keras: '${path}' weight '${role}' not among convscope's roles ${ours.map((x) => x.role).join(', ')}`);
        if (a.shape.join() !== w.shape.join()) throw new Error(`tfjs_keras: '${path}/${role}' shape [${a.shape}] vs tfjs [${w.shape}]`);
        used.add(a);
        weightValues += a.values.length;
        return tf.tensor(a.values, a.shape);
      });
      if (used.size !== ours.length) throw new Error(`tfjs_keras: '${path}' has ${ours.length} convscope weights, tfjs took ${used.size}`);
      layer.setWeights(arrays);
      tf.dispose(arrays);
      weightedLayers.push(path);
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  const input = (x: HostTensor) => tf.tensor(x.values, x.shape);
  /**
   * One forward pass through the node graph (with the gradients when `score` is given):
   * the tensors wanted, kept past the scope for the caller to read back (synchronously
   * or not) and dispose. Nothing is read inside, so the same pass serves tfjs-webgpu,
   * whose values come back only asynchronously in Node.
   */
  const pass = (x: HostTensor, score?: Score, wrt?: string, nudges?: Nudges): KeptPass => {
    const kept: tf.Tensor[] = [];
    const keep = (t: tf.Tensor) => {
      kept.push(t);
      return tf.keep(t);
    };
    const outputs = new Map<string, tf.Tensor>();
    tf.engine().startScope();
    onlyInputGradient = score !== undefined;
    try {
      if (!score) {
        const rec = new Map<string, tf.Tensor>();
        runContainer(model, [input(x)], '', rec);
        for (const [k, v] of rec) outputs.set(k, keep(v));
        return { outputs, kept };
      }
      if (wrt === undefined) {
        const { value, grad } = tf.valueAndGrad((t: tf.Tensor) => {
          const layers = new Map<string, tf.Tensor>();
          const v = score(runContainer(model, [t], '', layers, nudges), layers);
          for (const [k, l] of layers) outputs.set(k, keep(l));
          return v;
        })(input(x));
        return { outputs, gradient: keep(grad), value: keep(value), kept };
      }
      // the layer's output shape from a plain run first (the zero offset must match it)
      const probe = new Map<string, tf.Tensor>();
      runContainer(model, [input(x)], '', probe);
      const at = probe.get(wrt);
      if (!at) throw new Error(`tfjs_keras: TF.js has no layer '${wrt}'`);
      const zero = tf.zerosLike(at);
      const {
        value,
        grads: [gx, gl],
      } = tf.valueAndGrads((t: tf.Tensor, z: tf.Tensor) => {
        const layers = new Map<string, tf.Tensor>();
        const v = score(runContainer(model, [t], '', layers, nudges, new Map([[wrt, z]])), layers);
        for (const [k, l] of layers) outputs.set(k, keep(l));
        return v;
      })([input(x), zero]);
      return { outputs, gradient: keep(gx), layerGradient: keep(gl), value: keep(value), kept };
    } catch (e) {
      tf.dispose(kept);
      throw e;
    } finally {
      onlyInputGradient = false;
      tf.engine().endScope();
    }
  };
  const self: TfjsKerasModel = {
    model,
    substitutions,
    weightedLayers,
    weightValues,
    countParams: () => model.countParams(),
    outputs(x) {
      return readSync(pass(x)).outputs;
    },
    async outputsAsync(x) {
      return (await readAsync(pass(x))).outputs;
    },
    predict(x) {
      return scoped(() => host(list(model.predict(input(x)))[0]));
    },
    inputGradient(x, score, nudges) {
      return self.outputsAndGradient(x, score, nudges).gradient;
    },
    outputsAndGradient(x, score, nudges) {
      const r = readSync(pass(x, score, undefined, nudges));
      return { outputs: r.outputs, gradient: r.gradient! };
    },
    outputsAndGradients(x, score, wrt, nudges) {
      const r = readSync(pass(x, score, wrt, nudges));
      return { outputs: r.outputs, gradient: r.gradient!, layerGradient: r.layerGradient! };
    },
    async outputsAndGradientAsync(x, score, nudges) {
      const r = await readAsync(pass(x, score, undefined, nudges));
      return { outputs: r.outputs, gradient: r.gradient!, value: r.value! };
    },
    async outputsAndGradientsAsync(x, score, wrt, nudges) {
      const r = await readAsync(pass(x, score, wrt, nudges));
      return { outputs: r.outputs, gradient: r.gradient!, layerGradient: r.layerGradient!, value: r.value! };
    },
    dispose: () => model.dispose(),
  };
  return self;
}

// ---------------------------------------------------------------------------------
// Measures

/** max |a - b| / max |b| (absolute where b is all zero, or where `floor` is above max |b|). */
export function rel(a: ArrayLike<number>, b: ArrayLike<number>, floor = 0): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let d = 0;
  let s = floor;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return s === 0 ? d : d / s;
}

// ---------------------------------------------------------------------------------
// Kinks: where the two engines' rounding puts a value on different sides of one

/** The kinks (input values where the derivative jumps) of a layer of ours, or null if it has none. */
function kinksOf(l: LayerSpec, kerasMajor: number): number[] | null {
  const c = l.config;
  switch (l.className) {
    case 'ReLU':
      return [c.threshold, ...(c.max_value === null ? [] : [c.max_value])];
    case 'LeakyReLU':
    case 'PReLU':
      return [0];
    case 'ThresholdedReLU':
      return [c.theta];
    case 'Activation': {
      const k: Record<string, number[]> = { relu: [0], relu6: [0, 6], leaky_relu: [0], hard_sigmoid: kerasMajor >= 3 ? [-3, 3] : [-2.5, 2.5], hard_sigmoid_v3: [-3, 3], hard_swish: [-3, 3] };
      return k[c.activation] ?? null;
    }
    case 'TFOpLambda': {
      if (c.function === 'nn.relu') return [0];
      if (c.function === 'nn.relu6') return [0, 6];
      if ((c.function === 'math.maximum' || c.function === 'math.minimum') && typeof c.kwargs?.y === 'number') return [c.kwargs.y];
      return null;
    }
    default:
      return null;
  }
}

/** Flat indices (NHWC) of the window of each pooled output, for 2-D max pooling. */
export function poolWindows(shape: number[], pool: number[], strides: number[], padding: string): { out: number; cells: number[] }[] {
  const [batch, h, w, c] = shape;
  const oh = padding === 'same' ? Math.ceil(h / strides[0]) : Math.floor((h - pool[0]) / strides[0]) + 1;
  const ow = padding === 'same' ? Math.ceil(w / strides[1]) : Math.floor((w - pool[1]) / strides[1]) + 1;
  const pt = padding === 'same' ? Math.floor(Math.max((oh - 1) * strides[0] + pool[0] - h, 0) / 2) : 0;
  const pl = padding === 'same' ? Math.floor(Math.max((ow - 1) * strides[1] + pool[1] - w, 0) / 2) : 0;
  const windows: { out: number; cells: number[] }[] = [];
  for (let b = 0; b < batch; b++)
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < ow; x++)
        for (let k = 0; k < c; k++) {
          const cells: number[] = [];
          for (let i = 0; i < pool[0]; i++)
            for (let j = 0; j < pool[1]; j++) {
              const yy = y * strides[0] - pt + i;
              const xx = x * strides[1] - pl + j;
              if (yy >= 0 && yy < h && xx >= 0 && xx < w) cells.push(((b * h + yy) * w + xx) * c + k);
            }
          windows.push({ out: ((b * oh + y) * ow + x) * c + k, cells });
        }
  return windows;
}

export interface KinkFlips {
  /** For the TF.js run: the difference (ours - theirs) at the flipped inputs of each kink layer. */
  nudges: Nudges;
  /** How many values were nudged, and where ('layer: n of N'). */
  count: number;
  where: string[];
  /** The largest nudge relative to its layer's largest |value|. */
  largest: number;
}

/**
 * Where the two forward passes take different branches of a kink: a ReLU-family input
 * on different sides of 0 / 6 / its threshold (or exactly on it in one engine), or a
 * max-pooling window whose maximum is a different cell. The gradient is then not
 * comparable there (each engine's branch is right for its own rounding), so the
 * returned nudges move TF.js's input of that layer, at those values only, by the
 * rounding difference to our value: both then take the same branch, and every other
 * value of the computation is untouched. Layers held channels-first and kinks inside a
 * layer with a fused activation are not looked at.
 *
 * `ours(name)` and `theirs(name)`: a layer's output in the same layout.
 */
export function kinkFlips(
  layers: readonly LayerSpec[],
  ours: (name: string) => Float32Array | undefined,
  theirs: (name: string) => HostTensor | undefined,
  kerasMajor = 2,
): KinkFlips {
  const nudges: Nudges = new Map();
  const where: string[] = [];
  let count = 0;
  let largest = 0;
  for (const l of layers) {
    if (l.channelsFirst || l.inbound.length !== 1) continue;
    const pool = l.className === 'MaxPooling2D' || l.className === 'GlobalMaxPooling2D';
    const kinks = pool ? null : kinksOf(l, kerasMajor);
    if (!pool && !kinks) continue;
    const a = ours(l.inbound[0]);
    const bt = theirs(l.inbound[0]);
    if (!a || !bt || a.length !== bt.values.length) continue;
    const b = bt.values;
    const flipped = new Set<number>();
    if (kinks) {
      for (let i = 0; i < a.length; i++) for (const k of kinks) if (a[i] > k !== b[i] > k || a[i] >= k !== b[i] >= k) flipped.add(i);
    } else {
      const c = l.config;
      const windows =
        l.className === 'GlobalMaxPooling2D'
          ? poolWindows(bt.shape, [bt.shape[1], bt.shape[2]], [1, 1], 'valid')
          : poolWindows(bt.shape, c.pool_size, c.strides, c.padding);
      const argmax = (v: Float32Array, cells: number[]) => cells.reduce((best, i) => (v[i] > v[best] ? i : best), cells[0]);
      for (const { cells } of windows) if (argmax(a, cells) !== argmax(b, cells)) cells.forEach((i) => flipped.add(i));
    }
    if (flipped.size === 0) continue;
    let scale = 0;
    for (const v of b) scale = Math.max(scale, Math.abs(v));
    const index = [...flipped];
    const delta = index.map((i) => a[i] - b[i]);
    for (const d of delta) largest = Math.max(largest, Math.abs(d) / (scale || 1));
    const prev = nudges.get(l.name);
    nudges.set(l.name, prev ? { index: [...prev.index, ...index], delta: [...prev.delta, ...delta] } : { index, delta });
    count += index.length;
    where.push(`${l.name}: ${index.length} of ${a.length}`);
  }
  return { nudges, count, where, largest };
}
