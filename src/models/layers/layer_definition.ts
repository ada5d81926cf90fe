/**
 * The Keras layer registry. One {@link LayerDefinition} per Keras layer class
 * says, in one place, everything the product needs to know about it:
 *
 * - how its config is normalised from every Keras version's keys
 *   (`config`, reading through a {@link ConfigReader} that names the layer and
 *   key of any bad value);
 * - its output shape from its input shapes (`outputShape`);
 * - the weights it owns, in the order Keras stores them, with their shapes and
 *   how the fixture writer initialises them (`weights`);
 * - how it runs on the engine (`build`, which uploads what it needs once and
 *   returns the per-call function).
 *
 * Adding a layer is one `defineLayer` call in the family file it belongs to
 * (`core.ts`, `conv.ts`, `pooling.ts`, `merge.ts`, ...), plus its test.
 */
import type { Tensor } from '../../engine/tensor.ts';
import type { ConfigReader } from './config_reader.ts';
import type { Shape, WeightArray } from '../keras/spec.ts';

/** How the fixture writer fills a generated weight. */
export type WeightInit = 'he' | 'small' | 'zeros' | 'ones' | 'gamma' | 'beta' | 'mean' | 'variance' | 'alpha' | 'count';

/** One weight a layer owns, as implied by its config and input shapes. */
export interface WeightDecl {
  /** Its role ('kernel', 'bias', 'gamma', 'depthwise_kernel', ...): the name Keras gives the variable. */
  role: string;
  /** Its shape. */
  shape: number[];
  /** How generated weights fill it. */
  init: WeightInit;
  /** Keras counts it as non-trainable whatever the layer's flag (moving statistics, Normalization's mean). */
  nonTrainable?: boolean;
  /** Fan-in for 'he' initialisation (default: the product of every axis but the last). */
  fanIn?: number;
}

/** What running one layer gives: its output and, for layers with a fused activation, the value before it. */
export interface LayerResult {
  out: Tensor;
  /** The pre-activation tensor (logits), for layers that fuse an activation. */
  pre?: Tensor;
}

/** Per-call options. */
export interface ApplyOptions {
  /** The caller wants the pre-activation value too (so it must not be fused away). */
  pre?: boolean;
}

/** The per-call function a built layer returns. */
export type LayerCall = (inputs: Tensor[], o: ApplyOptions) => LayerResult;

/** What `build` gets to work with. */
export interface BuildContext {
  /** "layer 'name' (Class)": the prefix of every message about this layer. */
  where: string;
  /** The layer's weights in canonical order, with their roles, on the host. */
  weights: WeightArray[];
  /** The host values of a weight by role (undefined when the layer has none of that role). */
  host(role: string): WeightArray | undefined;
  /** Uploads a weight by role (once) and returns the tensor, owned by the model. */
  tensor(role: string): Tensor;
  /** Uploads host values computed at build time, owned by the model. */
  upload(values: Float32Array, shape: number[]): Tensor;
  /** Shapes of the layer's inputs, batch first. */
  inputShapes: Shape[];
  /** The layer's output shape. */
  outputShape: Shape;
}

/** Raised for a bad layer (shape, config): the message is the user-facing text. */
export type Fail = (msg: string) => never;

/** What `outputShape` and `weights` get besides the config. */
export interface ShapeContext {
  /** Throws an error naming the file and the layer. */
  fail: Fail;
}

/** The definition of one Keras layer class. */
export interface LayerDefinition<C = unknown> {
  /** The canonical Keras class name. */
  className: string;
  /** Other names for the same class in some Keras version (Keras 1 `Convolution2D`, aliases `MaxPool2D`). */
  aliases?: string[];
  /** Normalises the config from any Keras version: Keras 2 keys, defaults filled in. */
  config(r: ConfigReader): C;
  /** The output shape given the input shapes (batch first, null = unknown). */
  outputShape(c: C, inputs: Shape[], ctx: ShapeContext): Shape;
  /** The weights it owns in canonical order (default: none). */
  weights?(c: C, inputs: Shape[], ctx: ShapeContext): WeightDecl[];
  /** Uploads what it needs and returns the per-call function. */
  build(c: C, ctx: BuildContext): LayerCall;
  /** Whether `name:pre` (the value before a fused activation) exists. */
  hasPreActivation?(c: C): boolean;
  /** Number of inputs: 1 (default), 'many' (2 or more: merge layers), or 'any'. */
  arity?: 1 | 'many' | 'any';
  /** What pictures and defaults treat it as. */
  kind?: 'input' | 'conv' | 'pool' | 'global-pool' | 'other';
  /** A layer that is the identity at inference (dropout, augmentation): summaries and pickers may skip it. */
  identityAtInference?: boolean;
}

const definitions = new Map<string, LayerDefinition>();
const aliasOf = new Map<string, string>();

/** Registers a layer class (called once per class by the family files). */
export function defineLayer<C>(def: LayerDefinition<C>): LayerDefinition<C> {
  for (const n of [def.className, ...(def.aliases ?? [])]) {
    if (aliasOf.has(n)) throw new Error(`layer class '${n}' is defined twice`);
    aliasOf.set(n, def.className);
  }
  definitions.set(def.className, def as LayerDefinition);
  return def;
}

/** The definition of a class by any of its names, or undefined. */
export function findLayerDefinition(className: string): LayerDefinition | undefined {
  const canonical = aliasOf.get(className);
  return canonical === undefined ? undefined : definitions.get(canonical);
}

/** The definition of a canonical class name (throws for an unknown one: an internal error). */
export function layerDefinition(className: string): LayerDefinition {
  const d = findLayerDefinition(className);
  if (!d) throw new Error(`internal: no layer definition for '${className}'`);
  return d;
}

/** Every canonical class name, sorted. */
export function supportedLayerClasses(): string[] {
  return [...definitions.keys()].sort();
}
