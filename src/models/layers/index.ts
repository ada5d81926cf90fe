/** Registers every layer family; import this once before parsing or building a model. */
import './core.ts';
import './conv.ts';
import './pooling.ts';
import './merge.ts';
import './normalization.ts';
import './activation_layers.ts';
import './reshaping.ts';
import './preprocessing.ts';
import './tf_ops.ts';

export { defineLayer, findLayerDefinition, layerDefinition, supportedLayerClasses } from './layer_definition.ts';
export type { LayerDefinition, WeightDecl, LayerResult, BuildContext, ApplyOptions } from './layer_definition.ts';
