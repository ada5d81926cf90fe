/**
 * `TFOpLambda` and `SlicingOpLambda`: the layers tf.keras 2.x writes for plain
 * tensor maths in a functional model (`x + 3`, `tf.nn.relu6(x)`,
 * `x[:, 1:]`). The function name is in the config; the other operands are in
 * the call's keyword arguments, which the graph parser hands over as
 * `call_kwargs` (tensor operands replaced by `{ input: k }`, the k-th inbound
 * tensor). The common functions are mapped; any other is refused by name.
 */
import * as ops from '../../engine/ops/index.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { Shape } from '../keras/spec.ts';
import { isObject, type ConfigReader } from './config_reader.ts';
import { defineLayer, type ShapeContext } from './layer_definition.ts';
import { broadcastShape, formatShape, product, resolveAxis } from './shape_utils.ts';

/** A call operand: a constant (number or nested list) or the k-th inbound tensor. */
type Operand = { input: number } | { constant: number[]; shape: number[] };

interface TFOpConfig {
  function: string;
  /** Operands after the first inbound tensor, by keyword. */
  kwargs: Record<string, unknown>;
}

const BINARY: Record<string, (a: Tensor, b: Tensor | number) => Tensor> = {
  '__operators__.add': ops.add,
  'math.add': ops.add,
  '__operators__.sub': ops.sub,
  'math.subtract': ops.sub,
  'math.multiply': ops.mul,
  '__operators__.mul': ops.mul,
  'math.truediv': ops.div,
  'math.divide': ops.div,
  '__operators__.truediv': ops.div,
  'math.maximum': ops.maximum,
  'math.minimum': ops.minimum,
};

const UNARY: Record<string, (x: Tensor) => Tensor> = {
  'nn.relu': ops.relu,
  'nn.relu6': (x) => ops.clip(x, 0, 6),
  'math.sigmoid': ops.sigmoid,
  'nn.sigmoid': ops.sigmoid,
  'math.tanh': ops.tanh,
  'nn.tanh': ops.tanh,
  'nn.silu': (x) => ops.mul(x, ops.sigmoid(x)),
  'nn.swish': (x) => ops.mul(x, ops.sigmoid(x)),
  'math.exp': ops.exp,
  'math.log': ops.log,
  'math.sqrt': ops.sqrt,
  'math.rsqrt': (x) => ops.div(1, ops.sqrt(x)),
  'math.square': ops.square,
  'math.negative': ops.neg,
  '__operators__.neg': ops.neg,
  'math.abs': ops.abs,
  'nn.softmax': (x) => ops.softmax(x),
  'nn.gelu': (x) => ops.gelu(x),
};

/** Unary functions whose keyword arguments change the maths. */
const UNARY_WITH_KWARGS: Record<string, (x: Tensor, kwargs: Record<string, unknown>) => Tensor> = {
  // tf.nn.gelu(features, approximate=False): approximate=True is the tanh form
  'nn.gelu': (x, kw) => ops.gelu(x, kw.approximate === true),
  // tf.nn.softmax(logits, axis=None): the last axis by default
  'nn.softmax': (x, kw) => (kw.axis === undefined || kw.axis === null || kw.axis === -1 || kw.axis === x.rank - 1 ? ops.softmax(x) : softmaxAlong(x, kw.axis as number)),
};

function softmaxAlong(x: Tensor, axis: number): Tensor {
  const a = axis < 0 ? axis + x.rank : axis;
  const perm = [...Array(x.rank).keys()];
  [perm[a], perm[x.rank - 1]] = [perm[x.rank - 1], perm[a]];
  return ops.transpose(ops.softmax(ops.transpose(x, perm)), perm);
}

const REDUCE: Record<string, (x: Tensor, axes: number[], keep: boolean) => Tensor> = {
  'math.reduce_mean': ops.mean,
  'math.reduce_sum': ops.sum,
  'math.reduce_max': ops.max,
  'math.reduce_min': ops.min,
};

const SHAPE_FUNCTIONS = ['reshape', 'compat.v1.transpose', 'transpose', 'expand_dims', 'concat', 'identity'];

export const TF_FUNCTIONS = [...Object.keys(BINARY), ...Object.keys(UNARY), ...Object.keys(REDUCE), ...SHAPE_FUNCTIONS];

/** A constant operand from a number or nested list of numbers. */
function constant(v: unknown): Operand | undefined {
  if (typeof v === 'number') return { constant: [v], shape: [] };
  const flat: number[] = [];
  const shape: number[] = [];
  const walk = (x: unknown, depth: number): boolean => {
    if (typeof x === 'number') {
      flat.push(x);
      return true;
    }
    if (!Array.isArray(x)) return false;
    if (shape[depth] === undefined) shape[depth] = x.length;
    else if (shape[depth] !== x.length) return false;
    return x.every((e) => walk(e, depth + 1));
  };
  return walk(v, 0) ? { constant: flat, shape } : undefined;
}

function operand(v: unknown): Operand | undefined {
  if (isObject(v) && typeof v.input === 'number') return { input: v.input };
  return constant(v);
}

function tfConfig(r: ConfigReader): TFOpConfig {
  const fn = r.string('function');
  const kwargs = isObject(r.get('call_kwargs')) ? (r.get('call_kwargs') as Record<string, unknown>) : {};
  if (!TF_FUNCTIONS.includes(fn)) {
    r.fail(`the TensorFlow function 'tf.${fn}' has no mapping here (mapped: ${TF_FUNCTIONS.map((f) => `tf.${f}`).join(', ')}); rebuild the model without it, or cut the model before it with --until`);
  }
  if (fn in BINARY && operand(kwargs.y) === undefined) r.fail(`tf.${fn}: cannot read its second operand ${JSON.stringify(kwargs.y)}`);
  return { function: fn, kwargs };
}

const intList = (v: unknown): number[] | undefined =>
  typeof v === 'number' ? [v] : Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isInteger(x)) ? (v as number[]) : undefined;

function tfShape(c: TFOpConfig, inputs: Shape[], ctx: ShapeContext): Shape {
  const x = inputs[0];
  const fn = c.function;
  if (fn in UNARY || fn === 'identity') return [...x];
  if (fn in BINARY) {
    const y = operand(c.kwargs.y)!;
    return broadcastShape([x, 'input' in y ? inputs[y.input] : y.shape], ctx);
  }
  if (fn in REDUCE) {
    const keep = c.kwargs.keepdims === true;
    const axes = c.kwargs.axis == null ? x.map((_, i) => i) : (intList(c.kwargs.axis) ?? ctx.fail(`tf.${fn}: bad axis ${JSON.stringify(c.kwargs.axis)}`)).map((a) => resolveAxis(a, x.length, ctx, true));
    return keep ? x.map((d, i) => (axes.includes(i) ? 1 : d)) : x.filter((_, i) => !axes.includes(i));
  }
  if (fn === 'reshape') {
    const s = intList(c.kwargs.shape) ?? ctx.fail(`tf.reshape: bad shape ${JSON.stringify(c.kwargs.shape)}`);
    const total = product(x);
    const out: Shape = s.map((d, i) => (d === -1 ? null : i === 0 && x[0] === null ? null : d));
    const k = s.indexOf(-1);
    if (k >= 0 && total !== null) out[k] = total / (product(s.filter((_, i) => i !== k)) ?? 1);
    if (k >= 0 && x[0] === null && k !== 0) out[0] = null;
    return out;
  }
  if (fn === 'transpose' || fn === 'compat.v1.transpose') {
    const perm = intList(c.kwargs.perm) ?? ctx.fail(`tf.${fn}: needs perm`);
    return perm.map((p) => x[p]);
  }
  if (fn === 'expand_dims') {
    const a = intList(c.kwargs.axis)?.[0] ?? ctx.fail('tf.expand_dims: needs axis');
    const at = a < 0 ? a + x.length + 1 : a;
    return [...x.slice(0, at), 1, ...x.slice(at)];
  }
  if (fn === 'concat') {
    const a = resolveAxis(intList(c.kwargs.axis)?.[0] ?? ctx.fail('tf.concat: needs axis'), x.length, ctx);
    const out = [...x];
    out[a] = inputs.reduce<number | null>((s, i) => (s === null || i[a] === null ? null : s + (i[a] as number)), 0);
    return out;
  }
  return ctx.fail(`tf.${fn}: no shape rule`);
}

function tfBuild(c: TFOpConfig, where: string): (xs: Tensor[]) => Tensor {
  const fn = c.function;
  if (fn === 'identity') return (xs) => xs[0];
  if (fn in UNARY_WITH_KWARGS) return (xs) => UNARY_WITH_KWARGS[fn](xs[0], c.kwargs);
  if (fn in UNARY) return (xs) => UNARY[fn](xs[0]);
  if (fn in BINARY) {
    const y = operand(c.kwargs.y)!;
    return (xs) => {
      if ('input' in y) return BINARY[fn](xs[0], xs[y.input]);
      if (y.shape.length === 0) return BINARY[fn](xs[0], y.constant[0]);
      const t = ops.tensor(y.constant, y.shape);
      return BINARY[fn](xs[0], t);
    };
  }
  if (fn in REDUCE) {
    return (xs) => {
      const x = xs[0];
      const axes = c.kwargs.axis == null ? x.shape.map((_, i) => i) : intList(c.kwargs.axis)!.map((a) => (a < 0 ? a + x.rank : a));
      return REDUCE[fn](x, axes, c.kwargs.keepdims === true);
    };
  }
  if (fn === 'reshape') {
    const s = intList(c.kwargs.shape)!;
    return (xs) => {
      const x = xs[0];
      const shape = s.map((d, i) => (i === 0 && d !== -1 && x.shape[0] !== d ? x.shape[0] : d));
      const k = shape.indexOf(-1);
      if (k >= 0) shape[k] = x.size / shape.filter((_, i) => i !== k).reduce((a, b) => a * b, 1);
      return ops.reshape(x, shape);
    };
  }
  if (fn === 'transpose' || fn === 'compat.v1.transpose') {
    const perm = intList(c.kwargs.perm)!;
    return (xs) => ops.transpose(xs[0], perm);
  }
  if (fn === 'expand_dims') {
    const a = intList(c.kwargs.axis)![0];
    return (xs) => {
      const at = a < 0 ? a + xs[0].rank + 1 : a;
      return ops.reshape(xs[0], [...xs[0].shape.slice(0, at), 1, ...xs[0].shape.slice(at)]);
    };
  }
  if (fn === 'concat') {
    const a = intList(c.kwargs.axis)![0];
    return (xs) => ops.concat(xs, a < 0 ? a + xs[0].rank : a);
  }
  throw new Error(`${where}: tf.${fn} cannot run`);
}

defineLayer<TFOpConfig>({
  className: 'TFOpLambda',
  arity: 'any',
  config: tfConfig,
  outputShape: tfShape,
  build: (c, ctx) => {
    const f = tfBuild(c, ctx.where);
    return (xs) => ({ out: f(xs) });
  },
});

/** One axis of a Python slice: start, stop, step (nulls for the defaults), or a single index. */
type SliceAxis = { start: number | null; stop: number | null; step: number | null } | number;

interface SlicingConfig {
  spec: (SliceAxis | 'ellipsis')[];
}

function readSliceSpec(r: ConfigReader): SlicingConfig {
  const kwargs = r.get('call_kwargs');
  const raw = isObject(kwargs) ? kwargs.slice_spec : undefined;
  const list = Array.isArray(raw) ? raw : [raw];
  const spec = list.map((s): SliceAxis | 'ellipsis' => {
    if (typeof s === 'number' && Number.isInteger(s)) return s;
    if (s === '...' || (isObject(s) && s.class_name === '__ellipsis__')) return 'ellipsis';
    if (isObject(s) && ['start', 'stop', 'step'].every((k) => s[k] === null || s[k] === undefined || Number.isInteger(s[k]))) {
      const g = (k: string) => (s[k] ?? null) as number | null;
      if (g('step') !== null && g('step')! < 1) r.fail(`slice step ${g('step')} is not supported (positive steps only)`);
      return { start: g('start'), stop: g('stop'), step: g('step') };
    }
    return r.fail(`cannot read the slice ${JSON.stringify(s)}`);
  });
  return { spec };
}

/** Per axis: begin, size, step and whether the axis is dropped (an integer index). */
function resolveSlices(spec: SlicingConfig['spec'], shape: Shape, fail: (m: string) => never) {
  const e = spec.indexOf('ellipsis');
  const axes: (SliceAxis | null)[] = [];
  if (e >= 0) {
    const before = spec.slice(0, e) as SliceAxis[];
    const after = spec.slice(e + 1) as SliceAxis[];
    axes.push(...before, ...Array(shape.length - before.length - after.length).fill(null), ...after);
  } else axes.push(...(spec as SliceAxis[]), ...Array(Math.max(0, shape.length - spec.length)).fill(null));
  if (axes.length !== shape.length) fail(`the slice has ${spec.length} axes, the input ${formatShape(shape)} ${shape.length}`);
  return axes.map((a, i) => {
    const n = shape[i];
    if (a === null) return { begin: 0, size: n, step: 1, drop: false };
    if (typeof a === 'number') {
      if (n === null) fail(`cannot index axis ${i} of unknown size`);
      const k = a < 0 ? a + n : a;
      if (k < 0 || k >= n) fail(`index ${a} is outside axis ${i} of ${formatShape(shape)}`);
      return { begin: k, size: 1, step: 1, drop: true };
    }
    if (n === null) {
      if (a.start === null && a.stop === null && (a.step ?? 1) === 1) return { begin: 0, size: null, step: 1, drop: false };
      fail(`cannot slice axis ${i} of unknown size`);
    }
    const clampIdx = (v: number | null, def: number) => (v === null ? def : Math.min(Math.max(v < 0 ? v + n : v, 0), n));
    const begin = clampIdx(a.start, 0);
    const stop = clampIdx(a.stop, n);
    const step = a.step ?? 1;
    return { begin, size: Math.max(0, Math.ceil((stop - begin) / step)), step, drop: false };
  });
}

defineLayer<SlicingConfig>({
  className: 'SlicingOpLambda',
  config(r) {
    const fn = r.string('function');
    if (fn !== '__operators__.getitem') r.fail(`the function 'tf.${fn}' has no mapping here (only x[...] slicing)`);
    return readSliceSpec(r);
  },
  outputShape(c, inputs, ctx) {
    const s = resolveSlices(c.spec, inputs[0], ctx.fail);
    if (s.some((a) => a.size === 0)) ctx.fail(`the slice leaves nothing of ${formatShape(inputs[0])}`);
    return s.filter((a) => !a.drop).map((a) => a.size);
  },
  build: (c, ctx) => (xs) => {
    const x = xs[0];
    const s = resolveSlices(c.spec, [...x.shape], (m) => {
      throw new Error(`${ctx.where}: ${m}`);
    });
    let y = ops.slice(x, s.map((a) => a.begin), s.map((a) => (a.size === null ? -1 : (a.step === 1 ? a.size : (a.size - 1) * a.step + 1))));
    if (s.some((a) => a.step > 1)) {
      // strided: reshape each stepped axis to (size, step) and keep index 0
      for (let i = 0; i < s.length; i++) {
        if (s[i].step === 1) continue;
        const st = s[i].step;
        const n = y.shape[i];
        const padded = ops.pad(y, y.shape.map((_, j) => (j === i ? [0, (st - (n % st)) % st] : [0, 0]) as [number, number]));
        const shp = [...padded.shape.slice(0, i), padded.shape[i] / st, st, ...padded.shape.slice(i + 1)];
        const r = ops.reshape(padded, shp);
        const begin = shp.map(() => 0);
        const size = shp.map((d, j) => (j === i + 1 ? 1 : d));
        y = ops.reshape(ops.slice(r, begin, size), [...y.shape.slice(0, i), s[i].size as number, ...y.shape.slice(i + 1)]);
      }
    }
    const keep = s.map((a, i) => (a.drop ? -1 : y.shape[i])).filter((d) => d !== -1);
    return { out: keep.length === y.rank ? y : ops.reshape(y, keep) };
  },
});
