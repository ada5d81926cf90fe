/**
 * Shapes and parameter counts from a {@link ModelSpec} alone (channels-last,
 * batch first, `null` = unknown), and the `model.summary()` table Keras 2
 * prints.
 */
import { layerDefinition, type WeightDecl } from '../layers/index.ts';
import { formatShape } from '../layers/shape_utils.ts';
import { KerasFileError, type LayerSpec, type ModelSpec, type Shape, type WeightRole } from './spec.ts';

/** A weight a layer needs, as implied by its config and input shapes. */
export interface ExpectedWeight {
  /** The weight's role; the array is in the canonical order. */
  role: WeightRole;
  /** Its shape (Conv2D kernel HWIO, Dense kernel (in, out), ...). */
  shape: number[];
  /** Whether Keras counts it as trainable (false for moving statistics and frozen layers). */
  trainable: boolean;
  /** How generated weights fill it. */
  init: WeightDecl['init'];
  /** Fan-in for 'he' initialisation, when not the product of every axis but the last. */
  fanIn?: number;
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

function failer(opts: ShapeOptions, layer: LayerSpec): (msg: string) => never {
  return (msg: string) => {
    throw new KerasFileError(`layer '${layer.name}' (${layer.className}): ${msg}`, opts.fileName);
  };
}

export { formatShape };

/** (batch, channels, rows, cols) -> (batch, rows, cols, channels) for rank 4; other ranks as they are. */
export function channelsLastShape(s: Shape): Shape {
  return s.length === 4 ? [s[0], s[2], s[3], s[1]] : [...s];
}

/** (batch, rows, cols, channels) -> (batch, channels, rows, cols) for rank 4. */
export function channelsFirstShape(s: Shape): Shape {
  return s.length === 4 ? [s[0], s[3], s[1], s[2]] : [...s];
}

/**
 * The output shape of a layer given its input shapes, in Keras's terms (a
 * channels-first layer's shapes are (batch, channels, rows, cols)).
 */
export function layerOutputShape(layer: LayerSpec, inputs: Shape[], opts: ShapeOptions = {}): Shape {
  const def = layerDefinition(layer.className);
  const ctx = { fail: failer(opts, layer) };
  if (layer.className === 'InputLayer' && inputs.length === 1) return [...inputs[0]]; // a nested model's input
  if (def.arity === undefined && inputs.length !== 1) ctx.fail(`expects one input, got ${inputs.length}`);
  if (!layer.channelsFirst) return def.outputShape(layer.config, inputs, ctx);
  return channelsFirstShape(def.outputShape(layer.config, inputs.map(channelsLastShape), ctx));
}

/** The weights a layer needs (canonical order, shapes) given its input shapes. */
export function expectedWeights(layer: LayerSpec, inputs: Shape[], opts: ShapeOptions = {}): ExpectedWeight[] {
  const def = layerDefinition(layer.className);
  if (!def.weights || layer.sharesWeightsOf !== undefined) return [];
  const ctx = { fail: failer(opts, layer) };
  const decls = def.weights(layer.config, layer.channelsFirst ? inputs.map(channelsLastShape) : inputs, ctx);
  return decls.map((d) => ({ role: d.role, shape: d.shape, trainable: layer.trainable && !d.nonTrainable, init: d.init, fanIn: d.fanIn }));
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

/** One printed row: a layer, or (collapsed) a whole nested model. */
interface SummaryRow {
  label: string;
  outputShape: Shape;
  params: number;
  inbound: string[];
}

/** Rows of the summary: nested models as one row each (Keras's default) unless `expand`. */
function summaryRows(spec: ModelSpec, infos: LayerInfo[], expand: boolean): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const shown = (l: LayerSpec) => (expand || !l.scope ? l.name : l.scope[0]);
  let group: { name: string; row: SummaryRow; members: Set<string> } | undefined;
  for (const info of infos) {
    const l = info.layer;
    if (spec.kind === 'sequential' && l.className === 'InputLayer' && !l.scope) continue;
    if (!expand && l.scope) {
      const top = l.scope[0];
      if (group?.name !== top) {
        group = { name: top, row: { label: `${top} (${l.scopeClasses?.[0] ?? 'Functional'})`, outputShape: info.outputShape, params: 0, inbound: [] }, members: new Set() };
        rows.push(group.row);
      }
      group.members.add(l.name);
      group.row.params += info.params;
      group.row.outputShape = info.outputShape;
      for (const i of l.inbound) {
        const src = infos.find((x) => x.layer.name === i)?.layer;
        if (src && (!src.scope || src.scope[0] !== top)) group.row.inbound.push(shown(src));
      }
      continue;
    }
    group = undefined;
    rows.push({
      label: `${l.name} (${l.className})`,
      outputShape: info.outputShape,
      params: info.params,
      inbound: l.inbound.map((n) => {
        const src = infos.find((x) => x.layer.name === n)?.layer;
        return src ? shown(src) : n;
      }),
    });
  }
  return rows;
}

/**
 * The table Keras 2's `model.summary()` prints: `Model: "name"`, columns
 * `Layer (type)`, `Output Shape`, `Param #` (plus `Connected to` for models
 * that are not a simple chain), cells cut to the column widths exactly as
 * Keras cuts them, then total / trainable / non-trainable counts.
 * Sequential models omit their InputLayer row, as Keras does. A nested model
 * is one row (its class, its output shape, its parameters) unless `expand`.
 */
export function formatSummary(spec: ModelSpec, opts: ShapeOptions & { lineLength?: number; expand?: boolean } = {}): string {
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
  const shown = summaryRows(spec, infos, opts.expand ?? false);
  shown.forEach((r, k) => {
    const cells = [r.label, formatShape(r.outputShape), String(r.params)];
    if (sequentialLike) row(cells);
    else {
      const conns = r.inbound.map((n) => `${n}[0][0]`);
      row([...cells, conns[0] ?? '']);
      for (const c of conns.slice(1)) row(['', '', '', c]);
    }
    lines.push((k === shown.length - 1 ? '=' : '_').repeat(lineLength));
  });
  let trainable = 0;
  let nonTrainable = 0;
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
