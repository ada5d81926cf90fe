import { openModel } from '../context.ts';
import { modelJson, type CommandResult, type CommonFlags } from './common.ts';

export async function summaryCommand(modelPath: string, f: CommonFlags): Promise<CommandResult> {
  const model = await openModel(modelPath, f.arch);
  try {
    const layers = model.info.map((i) => ({
      name: i.layer.name,
      className: i.layer.className,
      outputShape: i.outputShape,
      params: i.params,
      inbound: i.layer.inbound,
    }));
    const summary = model.summary();
    return { json: { command: 'summary', model: modelJson(model, modelPath), layers, summary }, text: [summary] };
  } finally {
    model.dispose();
  }
}
