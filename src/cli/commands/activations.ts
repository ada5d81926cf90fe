import { computeActivations, renderLayerGrid, type LayerActivation } from '../../viz/activations.ts';
import { encodePng } from '../../viz/image_encode.ts';
import type { PreprocessMode } from '../../viz/preprocess.ts';
import type { ReportSection } from '../../viz/report.ts';
import type { Model } from '../../models/model.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { defaultPreprocess, loadInput, openModel, parseList, UsageError } from '../context.ts';
import { formatShape } from '../../models/keras/summary_shapes.ts';
import { OutputDir, safeName } from '../output_dir.ts';
import { modelJson, round, type CommandResult, type CommonFlags } from './common.ts';
import { renderReport } from '../../viz/report.ts';
import { prepareCommand } from '../prepare.ts';

/** Computes the layers' activations and writes one grid PNG per layer; returns the JSON part and a report section. */
export async function activationPictures(model: Model, input: Tensor, layers: string[], out: OutputDir, prefix = '') {
  for (const l of layers) {
    // unknown names and layers without a picture fail before any work
    const shape = model.storedShape(l);
    if (shape.length !== 4) {
      throw new UsageError(`--layers: '${l}' (${model.layer(l).className}) has output ${formatShape(shape)}; activation pictures need a layer with rows x cols x channels`);
    }
  }
  const acts = await computeActivations(model, input, layers);
  const section: ReportSection = { heading: 'Intermediate activations', text: 'Each channel standardised (x - mean) / std * 64 + 128, 16 per row, viridis.', pictures: [] };
  const json: Record<string, unknown>[] = [];
  for (const a of acts) {
    const entry: Record<string, unknown> = { name: a.layer, shape: a.shape, channels: a.channels.map((c) => ({ mean: round(c.mean), std: round(c.std) })) };
    if (a.shape.length === 3) {
      const png = encodePng(renderLayerGrid(a));
      entry.file = await out.write(`${prefix}activations_${safeName(a.layer)}.png`, png);
      section.pictures.push({ title: `${a.layer} [${a.shape.join('x')}]`, bytes: png, mime: 'image/png', width: Math.min(1400, Math.max(400, a.shape[1] * 16 * 2)) });
    }
    json.push(entry);
  }
  return { json, section, acts };
}

export function describeActivations(acts: LayerActivation[]): string[] {
  return acts.map((a) => {
    const dead = a.channels.filter((c) => c.std === 0).length;
    return `  ${a.layer.padEnd(24)} [${a.shape.join('x')}]${dead ? `  (${dead} constant channels)` : ''}`;
  });
}

export async function activationsCommand(modelPath: string, imagePath: string, f: CommonFlags & { layers?: string; preprocess?: string }): Promise<CommandResult> {
  parseList(f.layers);
  const out = await OutputDir.prepare(f.out);
  const model = await openModel(modelPath, f);
  try {
    const layers = parseList(f.layers) ?? model.convAndPoolLayers();
    const ready = prepareCommand([{ model, passes: [{ kind: 'activations', layers }] }]);
    const input = await loadInput(model, imagePath, (f.preprocess ?? defaultPreprocess(f.arch, model)) as PreprocessMode);
    await ready;
    const { json, section, acts } = await activationPictures(model, input.tensor, layers, out);
    input.tensor.dispose();
    const report = await out.write('report.html', renderReport({ title: `Activations of ${model.name}`, subtitle: `${input.name}, backend ${f.backend}`, summary: model.summary(), sections: [section] }));
    await out.commit();
    return {
      json: { command: 'activations', model: modelJson(model, modelPath), image: imagePath, layers: json, files: out.written },
      text: [`${input.name} through ${model.name}:`, ...describeActivations(acts), `report: ${report}`],
    };
  } catch (e) {
    await out.abort();
    throw e;
  } finally {
    model.dispose();
  }
}
