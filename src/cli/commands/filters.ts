import { filterPatterns } from '../../viz/filters.ts';
import { patternGrid } from '../../viz/grid.ts';
import { encodePng } from '../../viz/image_encode.ts';
import { renderReport, type ReportSection } from '../../viz/report.ts';
import type { Model } from '../../models/model.ts';
import { MAX_FILTERS, openModel, parseList, parseRange, UsageError, wholeNumber } from '../context.ts';
import { OutputDir, safeName } from '../output_dir.ts';
import { Progress, stderrIsTerminal } from '../progress.ts';
import { modelJson, round, type CommandResult, type CommonFlags } from './common.ts';
import { prepareCommand, type CommandPass } from '../prepare.ts';

export interface FilterFlags {
  layers?: string;
  filters: string;
  /** Pattern size; default: the model's fixed input size, else 64. */
  size?: number;
  steps: number;
  init: string;
  /** Filters ascended together in one batch (all of a layer's by default). */
  batch?: number;
}

/** The most ascent steps one run may take (the book takes 40; more than this is a typo, not a wish). */
export const MAX_STEPS = 10000;

/** Checks the flags that need no model, before any model is loaded. */
export function checkFilterFlags(f: FilterFlags): void {
  if (!['noise', 'gray'].includes(f.init)) throw new UsageError(`--init must be noise or gray; got '${f.init}'`);
  wholeNumber(f.steps, '--steps', 0, MAX_STEPS);
  wholeNumber(f.batch, '--batch', 1, MAX_FILTERS);
  wholeNumber(f.size, '--size', 8, 1024);
  parseRange(f.filters, '--filters');
  parseList(f.layers);
}

/** The default layers: the first conv layer of each block, as the book's figure. */
function defaultFilterLayers(model: Model): string[] {
  const convs = model.convLayers();
  const vggFirst = convs.filter((n) => /^block\d_conv1$/.test(n));
  if (vggFirst.length) return vggFirst.slice(0, 4);
  const expand = convs.filter((n) => /expand3x3$/.test(n));
  if (expand.length) return [convs[0], ...expand.filter((_, i) => i % 2 === 1)].slice(0, 4);
  return convs.slice(0, 4);
}

/** One ascent step per layer filterPictures will run, for prepareCommand (none where the flags will be refused). */
export function filterPasses(model: Model, f: FilterFlags): CommandPass[] {
  try {
    const size = f.size ?? model.inputShape[0] ?? 64;
    const filters = parseRange(f.filters, '--filters');
    const batch = Math.min(f.batch ?? filters.length, filters.length);
    return (parseList(f.layers) ?? defaultFilterLayers(model)).map((layer) => ({ kind: 'filters', layer, batch, size }));
  } catch {
    return [];
  }
}

export async function filterPictures(model: Model, f: CommonFlags & FilterFlags, out: OutputDir, quiet: boolean, prefix = '') {
  if (!['noise', 'gray'].includes(f.init)) throw new UsageError(`--init must be noise or gray; got '${f.init}'`);
  const [fixedH, fixedW] = model.inputShape;
  const size = f.size ?? fixedH ?? 64;
  if (!(size >= 8 && size <= 1024)) throw new UsageError(`--size must be between 8 and 1024; got ${size}`);
  if ((fixedH !== null && fixedH !== size) || (fixedW !== null && fixedW !== size)) {
    throw new UsageError(`model '${model.name}' takes ${fixedH}x${fixedW} input; --size must be ${fixedH} (got ${size})`);
  }
  checkFilterFlags(f);
  const layers = parseList(f.layers) ?? defaultFilterLayers(model);
  const filters = parseRange(f.filters, '--filters');
  for (const l of layers) {
    const info = model.layerInfo(l);
    if (!model.convLayers().includes(info.layer.name)) throw new UsageError(`--layers: '${l}' is a ${info.layer.className}; filter patterns need convolution layers`);
    const c = model.storedShape(l)[3] as number;
    const bad = filters.filter((x) => x >= c);
    if (bad.length) throw new UsageError(`--filters: layer '${l}' has filters 0..${c - 1}; ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', ...' : ''} out of range`);
  }
  const batch = f.batch ?? filters.length;
  const progress = new Progress('filter patterns', layers.length * f.steps * Math.ceil(filters.length / batch), !quiet && stderrIsTerminal());
  const section: ReportSection = { heading: 'Filter patterns', text: `Gradient ascent in input space: ${f.steps} steps of size 1 on the RMS-normalised gradient, ${size}x${size}, start ${f.init}, seed ${f.seed}; grid index i + 8j at row i, column j.`, pictures: [] };
  const json: Record<string, unknown>[] = [];
  for (const layer of layers) {
    const patterns = [];
    for (let b = 0; b < filters.length; b += batch) {
      patterns.push(...(await filterPatterns(model, layer, filters.slice(b, b + batch), { size, steps: f.steps, init: f.init as 'noise' | 'gray', seed: f.seed, onStep: () => progress.tick() })));
    }
    const rows = Math.min(8, filters.length);
    const grid = patternGrid(patterns.map((p) => p.image), size, rows, Math.ceil(filters.length / rows));
    const png = encodePng(grid);
    const file = await out.write(`${prefix}filters_${safeName(layer)}.png`, png);
    section.pictures.push({ title: `${layer}, filters ${f.filters}`, bytes: png, mime: 'image/png', width: Math.min(grid.width, 560) });
    json.push({ layer, file, patterns: patterns.map((p) => ({ filter: p.filter, losses: p.losses.map((v) => round(v)) })) });
  }
  return { json, section };
}

export async function filtersCommand(modelPath: string, f: CommonFlags & FilterFlags): Promise<CommandResult> {
  checkFilterFlags(f);
  const out = await OutputDir.prepare(f.out);
  const model = await openModel(modelPath, f);
  try {
    await prepareCommand([{ model, passes: filterPasses(model, f) }]);
    const { json, section } = await filterPictures(model, f, out, f.json);
    const report = await out.write('report.html', renderReport({ title: `Filter patterns of ${model.name}`, subtitle: `backend ${f.backend}`, summary: model.summary(), sections: [section] }));
    await out.commit();
    const lines = json.map((j) => {
      const ps = j.patterns as { filter: number; losses: number[] }[];
      const gain = ps.map((p) => p.losses[p.losses.length - 1] - p.losses[0]);
      return `  ${String(j.layer).padEnd(24)} ${ps.length} patterns, mean loss gain ${(gain.reduce((a, b) => a + b, 0) / gain.length).toFixed(3)}`;
    });
    return { json: { command: 'filters', model: modelJson(model, modelPath), filters: json, files: out.written }, text: [...lines, `report: ${report}`] };
  } catch (e) {
    await out.abort();
    throw e;
  } finally {
    model.dispose();
  }
}
