import { basename } from 'node:path';
import * as cs from '../index.ts';
import { BUILTIN_ARCHITECTURES, loadModel } from '../models/load_model.ts';
import type { Model } from '../models/model.ts';
import type { ImageU8 } from '../viz/image.ts';
import { readImageFile } from '../viz/image_io_node.ts';
import { preprocess, type PreprocessMode } from '../viz/preprocess.ts';
import { kerasLoadImg } from '../viz/resize.ts';

/** A user mistake: printed as one line, exit code 2, no stack trace. */
export class UsageError extends Error {}

export const PREPROCESS_MODES: PreprocessMode[] = ['none', 'rescale', 'vgg16', 'squeezenet'];

/** The preprocessing that goes with an architecture (SPEC.md section 0). */
export function defaultPreprocess(arch: string | undefined): PreprocessMode {
  if (arch === 'vgg16' || arch === 'vgg16-notop') return 'vgg16';
  if (arch === 'squeezenet-notop') return 'squeezenet';
  return 'rescale';
}

export async function useBackend(name: string): Promise<string> {
  const b = await cs.setBackend(name);
  return b.describe();
}

export async function openModel(path: string, arch?: string): Promise<Model> {
  if (arch && !(BUILTIN_ARCHITECTURES as readonly string[]).includes(arch) && !arch.endsWith('.json')) {
    throw new UsageError(`--arch must be one of ${BUILTIN_ARCHITECTURES.join(', ')} or a Keras JSON config file (.json); got '${arch}'`);
  }
  return loadModel(path, { arch });
}

/** An image loaded as Keras's load_img(path, target_size) with the model's input size, then preprocessed. */
export interface ModelInput {
  name: string;
  original: ImageU8;
  tensor: cs.Tensor;
  size: [number, number];
}

export async function loadInput(model: Model, path: string, mode: PreprocessMode, fallbackSize = 224): Promise<ModelInput> {
  if (!PREPROCESS_MODES.includes(mode)) throw new UsageError(`--preprocess must be one of ${PREPROCESS_MODES.join(', ')}; got '${mode}'`);
  const original = await readImageFile(path);
  const [h, w, c] = model.inputShape;
  if (c !== null && c !== 3) throw new UsageError(`model '${model.name}' takes ${c}-channel input; convscope feeds RGB images (3 channels)`);
  const size: [number, number] = [h ?? fallbackSize, w ?? fallbackSize];
  const resized = kerasLoadImg(original, size);
  const tensor = cs.tensor(preprocess(resized.data, mode), [1, size[0], size[1], 3]);
  return { name: basename(path), original, tensor, size };
}

/** Parses '0-63', '3', '0,5,9-11' into a sorted list of distinct integers. */
export function parseRange(spec: string, what: string): number[] {
  const out = new Set<number>();
  for (const part of spec.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new UsageError(`${what}: cannot read '${part}' (use forms like 0-63 or 1,4,9-11)`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new UsageError(`${what}: range '${part}' goes backwards`);
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

export function parseList(spec: string | undefined): string[] | undefined {
  return spec === undefined ? undefined : spec.split(',').map((s) => s.trim()).filter(Boolean);
}
