import { decodePredictions, type ClassNames, type Prediction } from '../../viz/predictions.ts';
import type { PreprocessMode } from '../../viz/preprocess.ts';
import type { Model } from '../../models/model.ts';
import { defaultPreprocess, loadInput, loadLabels, openModel, UsageError } from '../context.ts';
import { modelJson, type CommandResult, type CommonFlags } from './common.ts';
import { prepareCommand } from '../prepare.ts';

export async function topPredictions(model: Model, input: import('../../engine/tensor.ts').Tensor, k: number, names?: ClassNames): Promise<Prediction[]> {
  if (!(Number.isInteger(k) && k >= 1)) throw new UsageError(`--top must be a whole number of at least 1; got ${k}`);
  const out = model.predict(input);
  try {
    if (out.rank !== 2) throw new UsageError(`model '${model.name}' does not end in a classifier (its output has shape [${out.shape.join(',')}]); predict needs one`);
    // a finite answer is a true answer: NaN or an overflow is reported with the layer it starts at
    await model.assertFinite(await out.data(), input, 'prediction');
    // a model that ends in logits is shown with their softmax as probabilities
    return (await decodePredictions(out, k, names, { logits: !model.outputIsProbability() }))[0];
  } finally {
    out.dispose();
  }
}

export function predictionLines(preds: Prediction[]): string[] {
  return preds.map((p, i) => `  ${i + 1}. ${p.name} (${p.id}, class ${p.index}): ${p.probability.toFixed(4)}`);
}

export async function predictCommand(modelPath: string, imagePath: string, f: CommonFlags & { top: number; preprocess?: string; labels?: string }): Promise<CommandResult> {
  if (!(Number.isInteger(f.top) && f.top >= 1)) throw new UsageError(`--top must be a whole number of at least 1; got ${f.top}`);
  const model = await openModel(modelPath, f);
  try {
    const ready = prepareCommand([{ model, passes: [{ kind: 'predict' }] }]);
    const names = await loadLabels(model, f.labels, modelPath);
    const input = await loadInput(model, imagePath, (f.preprocess ?? defaultPreprocess(f.arch, model)) as PreprocessMode);
    await ready;
    const preds = await topPredictions(model, input.tensor, f.top, names);
    input.tensor.dispose();
    return {
      json: { command: 'predict', model: modelJson(model, modelPath), image: imagePath, predictions: preds },
      text: [`${input.name} (${input.original.width}x${input.original.height}) -> ${model.name}:`, ...predictionLines(preds)],
    };
  } finally {
    model.dispose();
  }
}
