/**
 * Shapes and parameter counts from a {@link ModelSpec} alone (channels-last,
 * batch first, `null` = unknown), and the `model.summary()` table Keras 2
 * prints.
 */
import {
  KerasFileError,
  isAlwaysNonTrainable,
  weightRolesFor,
  type LayerSpec,
  type ModelSpec,
  type Shape,
  type WeightRole,
} from './spec.ts';

/** A weight a layer needs, as implied by its config and input shapes. */
export interface ExpectedWeight {
  /** The weight's role; the array is in the canonical order. */
  role: WeightRole;
  /** Its shape (Conv2D kernel HWIO, Dense kernel (in, out), ...). */
  shape: number[];
  /** Whether Keras counts it as trainable (false for moving statistics and frozen layers). */
  trainable: boolean;
}

/** Everything known about one layer once shapes are propagated. */
export interface LayerInfo {
  /** The layer. */
  layer: LayerSpec;
  /** Output shapes of its inbound layers, in order. */
  inputShapes: Shape[];
  /** Its output shape, batch first. */
  outputShape: Shape;
  /** Weights it needs, canonical order. */
  weights: ExpectedWeight[];
  /** All its parameters (Keras' `count_params()`). */
  params: number;
  /** Its trainable parameters. */
  trainableParams: number;
  /** Its non-trainable parameters. */
  nonTrainableParams: number;
}

/** Parameter totals, as on the last lines of `model.summary()`. */
export interface ParamCounts {
  total: number;
  trainable: number;
  nonTrainable: number;
}

/** Options for messages. */
export interface ShapeOptions {
  /** File name for error messages. */
  fileName?: string;
}

function fail(opts: ShapeOptions, layer: LayerSpec, msg: string): never {
  throw new KerasFileError(`layer '${layer.name}' (${layer.className}): ${msg}`, opts.fileName);
}

/** Python's tuple repr of a shape: `(None, 148, 148, 32)`, `(None,)`. */
export function formatShape(shape: Shape): string {
  const parts = shape.map((d) => (d === null ? 'None' : String(d)));
  return parts.length === 1 ? `(${parts[0]},)` : `(${parts.join(', ')})`;
}

function spatialOut(size: number | null, k: number, s: number, d: number, padding: 'valid' | 'same'): number | null {
  if (size === null) return null;
  if (padding === 'same') return Math.ceil(size / s);
  const ek = (k - 1) * d + 1;
  return Math.floor((size - ek) / s) + 1;
}

function rank4(layer: LayerSpec, shape: Shape, opts: ShapeOptions): void {
  if (shape.length !== 4) fail(opts, layer, `expects a 4D (batch, rows, cols, channels) input, got ${formatShape(shape)}`);
}

function one(layer: LayerSpec, inputs: Shape[], opts: ShapeOptions): Shape {
  if (inputs.length !== 1) fail(opts, layer, `expects one input, got ${inputs.length}`);
  return inputs[0];
}

function prod(dims: Shape): number | null {
  let p = 1;
  for (const d of dims) {
    if (d === null) return null;
    p *= d;
  }
  return p;
}

/** The output shape of a layer given its input shapes. */
export function layerOutputShape(layer: LayerSpec, inputs: Shape[], opts: ShapeOptions = {}): Shape {
  switch (layer.className) {
    case 'InputLayer':
      return [...layer.config.batch_input_shape];
    case 'Conv2D':
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const x = one(layer, inputs, opts);
      rank4(layer, x, opts);
      const c = layer.config;
      const [k, s, d, ch] =
        layer.className === 'Conv2D'
          ? [layer.config.kernel_size, layer.config.strides, layer.config.dilation_rate, layer.config.filters]
          : [layer.config.pool_size, layer.config.strides, [1, 1], x[3]];
      const h = spatialOut(x[1], k[0], s[0], d[0], c.padding);
      const w = spatialOut(x[2], k[1], s[1], d[1], c.padding);
      if ((h !== null && h <= 0) || (w !== null && w <= 0)) {
        fail(opts, layer, `input ${formatShape(x)} is too small for the window (output would be ${h}x${w})`);
      }
      return [x[0], h, w, ch];
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D': {
      const x = one(layer, inputs, opts);
      rank4(layer, x, opts);
      return layer.config.keepdims ? [x[0], 1, 1, x[3]] : [x[0], x[3]];
    }
    case 'Dense': {
      const x = one(layer, inputs, opts);
      if (x.length < 2 || x[x.length - 1] === null) fail(opts, layer, `needs a known last input dimension, got ${formatShape(x)}`);
      return [...x.slice(0, -1), layer.config.units];
    }
    case 'Flatten': {
      const x = one(layer, inputs, opts);
      return [x[0], prod(x.slice(1))];
    }
    case 'Dropout':
    case 'SpatialDropout2D':
    case 'Activation':
    case 'ReLU':
    case 'LeakyReLU':
    case 'PReLU':
    case 'BatchNormalization':
      return [...one(layer, inputs, opts)];
    case 'ZeroPadding2D': {
      const x = one(layer, inputs, opts);
      rank4(layer, x, opts);
      const [[t, b], [l, r]] = layer.config.padding;
      return [x[0], x[1] === null ? null : x[1] + t + b, x[2] === null ? null : x[2] + l + r, x[3]];
    }
    case 'Concatenate': {
      if (inputs.length < 2) fail(opts, layer, `expects at least two inputs, got ${inputs.length}`);
      const rank = inputs[0].length;
      const axis = layer.config.axis < 0 ? rank + layer.config.axis : layer.config.axis;
      if (axis <= 0 || axis >= rank) fail(opts, layer, `axis ${layer.config.axis} is out of range for rank ${rank}`);
      const out = [...inputs[0]];
      for (const s of inputs.slice(1)) {
        if (s.length !== rank) fail(opts, layer, `inputs of different ranks: ${inputs.map(formatShape).join(', ')}`);
        for (let i = 1; i < rank; i++) {
          if (i === axis) out[i] = out[i] === null || s[i] === null ? null : (out[i] as number) + (s[i] as number);
          else if (out[i] !== null && s[i] !== null && out[i] !== s[i]) {
            fail(opts, layer, `inputs do not match off the concatenation axis: ${inputs.map(formatShape).join(', ')}`);
          } else out[i] ??= s[i];
        }
      }
      return out;
    }
    case 'Add': {
      if (inputs.length < 2) fail(opts, layer, `expects at least two inputs, got ${inputs.length}`);
      const out = [...inputs[0]];
      for (const s of inputs.slice(1)) {
        if (s.length !== out.length) fail(opts, layer, `inputs of different shapes: ${inputs.map(formatShape).join(', ')}`);
        for (let i = 1; i < out.length; i++) {
          if (out[i] !== null && s[i] !== null && out[i] !== s[i]) {
            fail(opts, layer, `inputs of different shapes: ${inputs.map(formatShape).join(', ')}`);
          }
          out[i] ??= s[i];
        }
      }
      return out;
    }
    case 'Reshape': {
      const x = one(layer, inputs, opts);
      const target = [...layer.config.target_shape];
      const total = prod(x.slice(1));
      const unknown = target.indexOf(-1);
      if (unknown >= 0) {
        const known = target.reduce((a, d, i) => (i === unknown ? a : a * d), 1);
        if (total === null) return [x[0], ...target.map((d) => (d === -1 ? null : d))];
        if (total % known !== 0) fail(opts, layer, `cannot reshape ${formatShape(x)} to ${JSON.stringify(target)}`);
        target[unknown] = total / known;
      } else if (total !== null && total !== prod(target)) {
        fail(opts, layer, `cannot reshape ${formatShape(x)} to ${JSON.stringify(target)}`);
      }
      return [x[0], ...target];
    }
  }
}

function known(layer: LayerSpec, d: number | null, what: string, opts: ShapeOptions): number {
  if (d === null) fail(opts, layer, `the ${what} must be known to size the weights`);
  return d;
}

/** The weights a layer needs (canonical order, shapes) given its input shapes. */
export function expectedWeights(layer: LayerSpec, inputs: Shape[], opts: ShapeOptions = {}): ExpectedWeight[] {
  const roles = weightRolesFor(layer);
  if (roles.length === 0) return [];
  const x = inputs[0];
  const shapes: Partial<Record<WeightRole, number[]>> = {};
  switch (layer.className) {
    case 'Conv2D': {
      const cin = known(layer, x[x.length - 1], 'input channel count', opts);
      const [kh, kw] = layer.config.kernel_size;
      shapes.kernel = [kh, kw, cin, layer.config.filters];
      shapes.bias = [layer.config.filters];
      break;
    }
    case 'Dense': {
      const cin = known(layer, x[x.length - 1], 'input width', opts);
      shapes.kernel = [cin, layer.config.units];
      shapes.bias = [layer.config.units];
      break;
    }
    case 'BatchNormalization': {
      const axis = layer.config.axis < 0 ? x.length + layer.config.axis : layer.config.axis;
      if (axis <= 0 || axis >= x.length) fail(opts, layer, `axis ${layer.config.axis} is out of range for ${formatShape(x)}`);
      const c = known(layer, x[axis], 'normalised axis', opts);
      for (const r of ['gamma', 'beta', 'moving_mean', 'moving_variance'] as const) shapes[r] = [c];
      break;
    }
    case 'PReLU': {
      const shared = new Set(layer.config.shared_axes ?? []);
      shapes.alpha = x.slice(1).map((d, i) => (shared.has(i + 1) ? 1 : known(layer, d, `input axis ${i + 1}`, opts)));
      break;
    }
    default:
      break;
  }
  return roles.map((role) => ({
    role,
    shape: shapes[role]!,
    trainable: layer.trainable && !isAlwaysNonTrainable(role),
  }));
}

/** Propagate shapes through the model: one {@link LayerInfo} per layer, in `spec.layers` order. */
export function inferShapes(spec: ModelSpec, opts: ShapeOptions = {}): LayerInfo[] {
  const out = new Map<string, Shape>();
  const infos: LayerInfo[] = [];
  for (const layer of spec.layers) {
    const inputShapes = layer.inbound.map((n) => {
      const s = out.get(n);
      if (!s) throw new KerasFileError(`layer '${layer.name}' uses '${n}' before it is defined`, opts.fileName);
      return s;
    });
    const outputShape = layerOutputShape(layer, inputShapes, opts);
    const weights = expectedWeights(layer, inputShapes, opts);
    let trainableParams = 0;
    let nonTrainableParams = 0;
    for (const w of weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      if (w.trainable) trainableParams += n;
      else nonTrainableParams += n;
    }
    out.set(layer.name, outputShape);
    infos.push({
      layer,
      inputShapes,
      outputShape,
      weights,
      params: trainableParams + nonTrainableParams,
      trainableParams,
      nonTrainableParams,
    });
  }
  return infos;
}

/** Total / trainable / non-trainable parameter counts of a model. */
export function countParams(spec: ModelSpec, opts: ShapeOptions = {}): ParamCounts {
  let trainable = 0;
  let nonTrainable = 0;
  for (const i of inferShapes(spec, opts)) {
    trainable += i.trainableParams;
    nonTrainable += i.nonTrainableParams;
  }
  return { total: trainable + nonTrainable, trainable, nonTrainable };
}

/** Whether Keras would print the 3-column (sequential-like) summary. */
function isSequentialLike(spec: ModelSpec): boolean {
  if (spec.kind === 'sequential') return true;
  if (spec.inputs.length !== 1 || spec.outputs.length !== 1) return false;
  const consumers = new Map<string, number>();
  for (const l of spec.layers) {
    if (l.inbound.length > 1) return false;
    for (const i of l.inbound) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  }
  return [...consumers.values()].every((n) => n <= 1);
}

/** Python's `'{:,}'.format(n)`. */
function withCommas(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/**
 * The table Keras 2's `model.summary()` prints: `Model: "name"`, columns
 * `Layer (type)`, `Output Shape`, `Param #` (plus `Connected to` for models
 * that are not a simple chain), cells cut to the column widths exactly as
 * Keras cuts them, then total / trainable / non-trainable counts.
 * Sequential models omit their InputLayer row, as Keras does.
 */
export function formatSummary(spec: ModelSpec, opts: ShapeOptions & { lineLength?: number } = {}): string {
  const infos = inferShapes(spec, opts);
  const sequentialLike = isSequentialLike(spec);
  const lineLength = opts.lineLength ?? (sequentialLike ? 65 : 98);
  const fractions = sequentialLike ? [0.45, 0.85, 1] : [0.33, 0.55, 0.67, 1];
  const positions = fractions.map((p) => Math.floor(lineLength * p));
  const lines: string[] = [];
  const row = (fields: string[]): void => {
    let line = '';
    fields.forEach((f, i) => {
      if (i > 0) line = line.slice(0, -1) + ' ';
      line += f;
      line = line.slice(0, positions[i]);
      line += ' '.repeat(Math.max(0, positions[i] - line.length));
    });
    lines.push(line);
  };
  lines.push(`Model: "${spec.name}"`);
  lines.push('_'.repeat(lineLength));
  row(sequentialLike ? ['Layer (type)', 'Output Shape', 'Param #'] : ['Layer (type)', 'Output Shape', 'Param #', 'Connected to']);
  lines.push('='.repeat(lineLength));
  const shown = infos.filter((i) => !(spec.kind === 'sequential' && i.layer.className === 'InputLayer'));
  let trainable = 0;
  let nonTrainable = 0;
  shown.forEach((info, k) => {
    const l = info.layer;
    const cells = [`${l.name} (${l.className})`, formatShape(info.outputShape), String(info.params)];
    if (sequentialLike) row(cells);
    else {
      const conns = l.inbound.map((n) => `${n}[0][0]`);
      row([...cells, conns[0] ?? '']);
      for (const c of conns.slice(1)) row(['', '', '', c]);
    }
    lines.push((k === shown.length - 1 ? '=' : '_').repeat(lineLength));
  });
  for (const i of infos) {
    trainable += i.trainableParams;
    nonTrainable += i.nonTrainableParams;
  }
  lines.push(`Total params: ${withCommas(trainable + nonTrainable)}`);
  lines.push(`Trainable params: ${withCommas(trainable)}`);
  lines.push(`Non-trainable params: ${withCommas(nonTrainable)}`);
  lines.push('_'.repeat(lineLength));
  return lines.join('\n');
}
