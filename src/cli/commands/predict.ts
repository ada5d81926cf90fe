import { decodePredictions, type Prediction } from '../../viz/predictions.ts';
import type { PreprocessMode } from '../../viz/preprocess.ts';
import type { Model } from '../../models/model.ts';
import { defaultPreprocess, loadInput, openModel, UsageError } from '../context.ts';
import { modelJson, type CommandResult, type CommonFlags } from './common.ts';

export async function topPredictions(model: Model, input: import('../../engine/tensor.ts').Tensor, k: number): Promise<Prediction[]> {
  const out = model.predict(input);
  try {
    if (out.rank !== 2) throw new UsageError(`model '${model.name}' does not end in a classifier (its output has shape [${out.shape.join(',')}]); predict needs one`);
    return (await decodePredictions(out, k))[0];
  } finally {
    out.dispose();
  }
}

export function predictionLines(preds: Prediction[]): string[] {
  return preds.map((p, i) => `  ${i + 1}. ${p.name} (${p.id}, class ${p.index}): ${p.probability.toFixed(4)}`);
}

export async function predictCommand(modelPath: string, imagePath: string, f: CommonFlags & { top: number; preprocess?: string }): Promise<CommandResult> {
  const model = await openModel(modelPath, f.arch);
  try {
    const input = await loadInput(model, imagePath, (f.preprocess ?? defaultPreprocess(f.arch)) as PreprocessMode);
    const preds = await topPredictions(model, input.tensor, f.top);
    input.tensor.dispose();
    return {
      json: { command: 'predict', model: modelJson(model, modelPath), image: imagePath, predictions: preds },
      text: [`${input.name} (${input.original.width}x${input.original.height}) -> ${model.name}:`, ...predictionLines(preds)],
    };
  } finally {
    model.dispose();
  }
}
