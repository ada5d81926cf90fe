import { openArchitecture } from '../context.ts';
import { formatSummary, inferShapes } from '../../models/keras/summary_shapes.ts';
import { modelJson, type CommandResult, type CommonFlags } from './common.ts';

/** The model's table, from its architecture alone: no weights are uploaded and no GPU device is started. */
export async function summaryCommand(modelPath: string, f: CommonFlags & { expand?: boolean }): Promise<CommandResult> {
  const spec = await openArchitecture(modelPath, f);
  const layers = inferShapes(spec).map((i) => ({
    name: i.layer.name,
    className: i.layer.className,
    outputShape: i.outputShape,
    params: i.params,
    inbound: i.layer.inbound,
    ...(i.layer.scope ? { scope: i.layer.scope } : {}),
  }));
  const summary = formatSummary(spec, { expand: f.expand });
  return { json: { command: 'summary', model: modelJson(spec, modelPath), layers, summary }, text: [summary] };
}
