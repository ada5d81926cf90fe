/**
 * The normalised, engine-independent description of a Keras model, as read
 * from a Keras `.h5` file (or a Keras JSON config). No tensor engine here:
 * weights are plain `Float32Array`s with a shape.
 *
 * Every Keras version (Keras 1, Keras 2.0-2.2, tf.keras 2.x, Keras 3's
 * legacy h5) is mapped onto one vocabulary: the Keras 2 class names and
 * config keys, with every optional key filled in with its Keras default.
 */

import { supportedLayerClasses } from '../layers/index.ts';
export type { ActivationName } from '../layers/activation_functions.ts';

/** The layer classes this project can load (canonical Keras 2 names), from the layer registry. */
export const SUPPORTED_LAYER_CLASSES: readonly string[] = supportedLayerClasses();

/** A canonical Keras class name (one of {@link SUPPORTED_LAYER_CLASSES}). */
export type LayerClassName = string;

/** A tensor shape with the batch dimension first; `null` = unknown (batch, or any-size input). */
export type Shape = (number | null)[];

/** Two integers for the (height, width) axes. */
export type Pair = [number, number];

/** Keras padding mode for convolutions and pooling. */
export type Padding = 'valid' | 'same';

/**
 * One layer call in the model graph. Nested models are flattened into their
 * callers: an inner layer's name is its path (`model_1/conv_pw_13_relu`) and
 * `scope` lists the models it sits in. A shared layer called more than once
 * has one entry per call, the later ones named `name@1`, `name@2`, ... and
 * pointing at the first with `sharesWeightsOf`.
 */
export interface LayerSpecOf<C> {
  /** The layer's unique name in the model (may contain '/', e.g. 'fire2/squeeze1x1' or a nested path). */
  name: string;
  /** Canonical Keras 2 class name. */
  className: LayerClassName;
  /** Normalised config (Keras 2 keys, defaults filled in): see the class's definition in `src/models/layers/`. */
  config: C;
  /** Names of the layers feeding this one, in argument order (empty for a model input). */
  inbound: string[];
  /** Keras' `trainable` flag: weights of a non-trainable layer count as non-trainable params. */
  trainable: boolean;
  /** The nested models this layer sits in, outermost first (absent at the top level). */
  scope?: string[];
  /** The class of each model in `scope` ('Sequential', 'Functional'). */
  scopeClasses?: string[];
  /** For a second call of a shared layer: the layer whose weights it uses. */
  sharesWeightsOf?: string;
  /** The layer's data_format was channels_first: its Keras shapes are (batch, channels, rows, cols). */
  channelsFirst?: boolean;
}

/** Any layer; narrow `config` by `className` (the definitions export each class's config type). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type LayerSpec = LayerSpecOf<any>;

/** A whole model: a DAG of layers in topological order. */
export interface ModelSpec {
  /** Model name from the config ('sequential' when a Keras 1/2.0 Sequential list has none). */
  name: string;
  /** 'sequential' for Keras `Sequential` configs, 'functional' for `Model` / `Functional`. */
  kind: 'sequential' | 'functional';
  /** Keras version that wrote the file, when known. */
  kerasVersion?: string;
  /** Backend that wrote the file ('tensorflow', 'theano', 'jax', ...), when known. */
  backend?: string;
  /** All layers in topological order, InputLayers included (synthesised for Sequential models without one). */
  layers: LayerSpec[];
  /** Names of the InputLayers, in model input order. */
  inputs: string[];
  /** Names of the output layers, in model output order. */
  outputs: string[];
  /** Shape of the (first) input, batch first, e.g. `[null, 150, 150, 3]`. */
  inputShape: Shape;
}

/** The role of a weight inside its layer ('kernel', 'bias', 'gamma', 'depthwise_kernel', ...); the order per class is its definition's. */
export type WeightRole = string;

/** One weight tensor. */
export interface WeightArray {
  /** Name as stored in the file (e.g. 'conv2d_1/kernel:0', 'block1_conv1_W_1:0'). */
  name: string;
  /** Shape (row-major, C order, as in the file after normalisation). */
  shape: number[];
  /** Values, row-major. */
  values: Float32Array;
  /** The weight's role, once matched against a layer spec. */
  role?: WeightRole;
}

/** Everything read from one Keras HDF5 file. */
export interface KerasFile {
  /** 'model' for `model.save` files (root attr `model_config`), 'weights' for `save_weights` files. */
  kind: 'model' | 'weights';
  /** File name used in messages (the path, or the name given for in-memory bytes). */
  fileName: string;
  /** The architecture (model files only). */
  model?: ModelSpec;
  /**
   * Weights per layer name ([] for weightless layers).
   * Model files: keyed by every layer of `model` (synthesised InputLayers included),
   * normalised to the canonical order and layout, with roles, checked against `model`.
   * Weights-only files: keyed by every name in `layerOrder`, as stored; pass them
   * through `matchWeightsToSpec` (or `loadKerasModel`) with a spec.
   */
  weights: Map<string, WeightArray[]>;
  /** Layer names in file order (the `layer_names` attribute, never the alphabetical HDF5 listing). */
  layerOrder: string[];
  /** True when `weights` are already canonical (model files). */
  normalised: boolean;
  /** The `keras_version` attribute, when present. */
  kerasVersion?: string;
  /** The `backend` attribute, when present. */
  backend?: string;
}

export { KerasFileError } from './errors.ts';
