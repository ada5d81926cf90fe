/**
 * The normalised, engine-independent description of a Keras model, as read
 * from a Keras `.h5` file (or a Keras JSON config). No tensor engine here:
 * weights are plain `Float32Array`s with a shape.
 *
 * Every Keras version (Keras 1, Keras 2.0-2.2, tf.keras 2.x, Keras 3's
 * legacy h5) is mapped onto one vocabulary: the Keras 2 class names and
 * config keys, with every optional key filled in with its Keras default.
 */

/** The layer classes this project can load (canonical Keras 2 names). */
export const SUPPORTED_LAYER_CLASSES = [
  'InputLayer',
  'Conv2D',
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling2D',
  'Dense',
  'Flatten',
  'Dropout',
  'SpatialDropout2D',
  'Activation',
  'ReLU',
  'LeakyReLU',
  'PReLU',
  'ZeroPadding2D',
  'Concatenate',
  'Add',
  'BatchNormalization',
  'Reshape',
] as const;

/** One of {@link SUPPORTED_LAYER_CLASSES}. */
export type LayerClassName = (typeof SUPPORTED_LAYER_CLASSES)[number];

/** The activation names accepted in `activation` config keys (Keras names). */
export const SUPPORTED_ACTIVATIONS = [
  'linear',
  'relu',
  'relu6',
  'sigmoid',
  'hard_sigmoid',
  'softmax',
  'tanh',
  'elu',
  'selu',
  'softplus',
  'softsign',
  'swish',
  'silu',
  'gelu',
  'exponential',
] as const;

/** One of {@link SUPPORTED_ACTIVATIONS}. */
export type ActivationName = (typeof SUPPORTED_ACTIVATIONS)[number];

/** A tensor shape with the batch dimension first; `null` = unknown (batch, or any-size input). */
export type Shape = (number | null)[];

/** Two integers for the (height, width) axes. */
export type Pair = [number, number];

/** Keras padding mode for convolutions and pooling. */
export type Padding = 'valid' | 'same';

/** `InputLayer`: the model's input placeholder. */
export interface InputLayerConfig {
  /** Full input shape, batch first and always `null`, e.g. `[null, 150, 150, 3]`. */
  batch_input_shape: Shape;
}

/** `Conv2D` (Keras 1 `Convolution2D` / `AtrousConvolution2D` are mapped here). Channels-last only. */
export interface Conv2DConfig {
  /** Number of output channels (Keras 1 `nb_filter`). */
  filters: number;
  /** Kernel [rows, cols] (Keras 1 `nb_row`, `nb_col`). */
  kernel_size: Pair;
  /** Strides [rows, cols] (Keras 1 `subsample`). */
  strides: Pair;
  /** 'valid' or 'same' (Keras 1 `border_mode`). */
  padding: Padding;
  /** Dilation [rows, cols] (Keras 1 `atrous_rate`). */
  dilation_rate: Pair;
  /** Activation applied after the bias. */
  activation: ActivationName;
  /** Whether a bias vector exists (Keras 1 `bias`). */
  use_bias: boolean;
}

/** `MaxPooling2D` and `AveragePooling2D`. */
export interface Pooling2DConfig {
  /** Window [rows, cols]. */
  pool_size: Pair;
  /** Strides [rows, cols]; Keras' `null` default is resolved to `pool_size`. */
  strides: Pair;
  /** 'valid' or 'same' (Keras 1 `border_mode`). */
  padding: Padding;
}

/** `GlobalAveragePooling2D` and `GlobalMaxPooling2D`. */
export interface GlobalPooling2DConfig {
  /** Keep the spatial axes as size 1 (tf.keras >= 2.6); default false. */
  keepdims: boolean;
}

/** `Dense`. */
export interface DenseConfig {
  /** Output width (Keras 1 `output_dim`). */
  units: number;
  /** Activation applied after the bias. */
  activation: ActivationName;
  /** Whether a bias vector exists (Keras 1 `bias`). */
  use_bias: boolean;
}

/** `Flatten` and `Add` have nothing to configure. */
export type EmptyConfig = Record<string, never>;

/** `Dropout` and `SpatialDropout2D` (identity at inference). */
export interface DropoutConfig {
  /** Fraction dropped during training (Keras 1 `p`). */
  rate: number;
}

/** `Activation`. */
export interface ActivationConfig {
  /** The activation function's name. */
  activation: ActivationName;
}

/** `ReLU` layer (Keras >= 2.2). */
export interface ReLUConfig {
  /** Upper clip, or null for none. */
  max_value: number | null;
  /** Slope below the threshold (0 for a plain ReLU). */
  negative_slope: number;
  /** Values below this are "negative". */
  threshold: number;
}

/** `LeakyReLU` (Keras 3's `negative_slope` is mapped to `alpha`). */
export interface LeakyReLUConfig {
  /** Slope for x < 0. */
  alpha: number;
}

/** `PReLU`. */
export interface PReLUConfig {
  /** Axes (1-based, batch = 0) along which the learned slope is shared, or null. */
  shared_axes: number[] | null;
}

/** `ZeroPadding2D`. */
export interface ZeroPadding2DConfig {
  /** [[top, bottom], [left, right]] whatever form the file used. */
  padding: [Pair, Pair];
}

/** `Concatenate` (Keras 1 `Merge` with mode 'concat' is mapped here). */
export interface ConcatenateConfig {
  /** Concatenation axis, as written (-1 = channels). */
  axis: number;
}

/** `BatchNormalization` (inference form: uses the moving statistics). */
export interface BatchNormalizationConfig {
  /** Normalised axis, as written (-1 or 3 = channels; lists of one axis are unwrapped). */
  axis: number;
  /** Added to the variance. */
  epsilon: number;
  /** Moving-average momentum (training only). */
  momentum: number;
  /** Whether `beta` exists. */
  center: boolean;
  /** Whether `gamma` exists. */
  scale: boolean;
}

/** `Reshape`. */
export interface ReshapeConfig {
  /** Target shape without the batch axis; one entry may be -1. */
  target_shape: number[];
}

/** The normalised config type of each layer class. */
export interface LayerConfigMap {
  InputLayer: InputLayerConfig;
  Conv2D: Conv2DConfig;
  MaxPooling2D: Pooling2DConfig;
  AveragePooling2D: Pooling2DConfig;
  GlobalAveragePooling2D: GlobalPooling2DConfig;
  GlobalMaxPooling2D: GlobalPooling2DConfig;
  Dense: DenseConfig;
  Flatten: EmptyConfig;
  Dropout: DropoutConfig;
  SpatialDropout2D: DropoutConfig;
  Activation: ActivationConfig;
  ReLU: ReLUConfig;
  LeakyReLU: LeakyReLUConfig;
  PReLU: PReLUConfig;
  ZeroPadding2D: ZeroPadding2DConfig;
  Concatenate: ConcatenateConfig;
  Add: EmptyConfig;
  BatchNormalization: BatchNormalizationConfig;
  Reshape: ReshapeConfig;
}

/** A layer of one given class; `LayerSpec` is the union over all classes (narrow on `className`). */
export interface LayerSpecOf<K extends LayerClassName> {
  /** The layer's unique name in the model (may contain '/', e.g. 'fire2/squeeze1x1'). */
  name: string;
  /** Canonical Keras 2 class name. */
  className: K;
  /** Normalised config (Keras 2 keys, defaults filled in). */
  config: LayerConfigMap[K];
  /** Names of the layers feeding this one, in argument order (empty for an InputLayer). */
  inbound: string[];
  /** Keras' `trainable` flag: weights of a non-trainable layer count as non-trainable params. */
  trainable: boolean;
}

/** Any supported layer: a discriminated union on `className`. */
export type LayerSpec = { [K in LayerClassName]: LayerSpecOf<K> }[LayerClassName];

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

/** The role of a weight inside its layer; the canonical order per class is {@link weightRolesFor}. */
export type WeightRole = 'kernel' | 'bias' | 'gamma' | 'beta' | 'moving_mean' | 'moving_variance' | 'alpha';

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

/** The error thrown for every bad-input case; its message starts with the file name. */
export class KerasFileError extends Error {
  /** The file concerned, when known. */
  readonly fileName?: string;
  constructor(message: string, fileName?: string) {
    super(fileName !== undefined ? `${fileName}: ${message}` : message);
    this.name = 'KerasFileError';
    this.fileName = fileName;
  }
}

/**
 * Canonical weight order of a layer class given its config: Conv2D/Dense
 * [kernel, bias?], BatchNormalization [gamma?, beta?, moving_mean,
 * moving_variance], PReLU [alpha]; [] for weightless classes.
 */
export function weightRolesFor(layer: LayerSpec): WeightRole[] {
  switch (layer.className) {
    case 'Conv2D':
    case 'Dense':
      return layer.config.use_bias ? ['kernel', 'bias'] : ['kernel'];
    case 'BatchNormalization': {
      const roles: WeightRole[] = [];
      if (layer.config.scale) roles.push('gamma');
      if (layer.config.center) roles.push('beta');
      roles.push('moving_mean', 'moving_variance');
      return roles;
    }
    case 'PReLU':
      return ['alpha'];
    default:
      return [];
  }
}

/** Whether Keras counts a weight of this role as non-trainable regardless of the layer's flag. */
export function isAlwaysNonTrainable(role: WeightRole): boolean {
  return role === 'moving_mean' || role === 'moving_variance';
}
