import { basename, dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import * as cs from '../index.ts';
import { readFile } from 'node:fs/promises';
import { BUILTIN_ARCHITECTURES, loadModel, readModelArchitecture } from '../models/load_model.ts';
import type { ModelSpec } from '../models/keras/spec.ts';
import { toGrayU8 } from '../viz/image.ts';
import { labelClassNames, parseLabels } from '../viz/labels.ts';
import type { ClassNames } from '../viz/predictions.ts';
import type { Model } from '../models/model.ts';
import type { ImageU8 } from '../viz/image.ts';
import { readImageFile } from '../viz/image_io_node.ts';
import { defaultPreprocess, preprocess, type PreprocessMode } from '../viz/preprocess.ts';
import { kerasLoadImg } from '../viz/resize.ts';

/** A user mistake: printed as one line, exit code 2, no stack trace. */
export class UsageError extends Error {}

export const PREPROCESS_MODES: PreprocessMode[] = ['none', 'rescale', 'vgg16', 'squeezenet', 'tf', 'torch'];

export { defaultPreprocess };

/** Options that say which model a file holds and which part of it to use. */
export interface ModelChoice {
  arch?: string;
  until?: string;
  output?: string;
}

export async function useBackend(name: string): Promise<string> {
  const b = await cs.setBackend(name);
  return b.describe();
}

function checkArch(arch: string | undefined): void {
  if (arch && !(BUILTIN_ARCHITECTURES as readonly string[]).includes(arch) && !arch.endsWith('.json')) {
    throw new UsageError(`--arch must be one of ${BUILTIN_ARCHITECTURES.join(', ')} or a Keras JSON config file (.json); got '${arch}'`);
  }
}

export async function openModel(path: string, choice: ModelChoice | string = {}): Promise<Model> {
  const c = typeof choice === 'string' ? { arch: choice } : choice;
  checkArch(c.arch);
  return loadModel(path, c);
}

/** The architecture alone (no weights, no device): what summary needs. A bare config is enough. */
export async function openArchitecture(path: string, c: ModelChoice = {}): Promise<ModelSpec> {
  checkArch(c.arch);
  return readModelArchitecture(path, c);
}

/**
 * Files that, beside a model, name its classes: Teachable Machine exports `labels.txt` next to
 * `keras_model.h5`; darknet-ordered ImageNet models ship `class_order_wnids.txt`.
 */
export const LABEL_FILES_BESIDE_MODEL = ['labels.txt', 'labels.json', 'classes.txt', 'class_names.txt', 'class_order_wnids.txt'];

/** Class names from a labels file, checked against the model's output. `flag` names the file's origin in errors. */
async function readLabelsFile(model: Model, path: string, flag: string): Promise<ClassNames> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${flag}: cannot read '${path}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const out = model.storedShape(model.spec.outputs[0]);
  if (out.length !== 2) throw new UsageError(`${flag}: model '${model.name}' does not end in a classifier (its output is [${out.join(',')}])`);
  try {
    return labelClassNames(parseLabels(text, path), out[1] as number, path);
  } catch (e) {
    throw new UsageError(`${flag}: ${(e as Error).message}`);
  }
}

/**
 * Class names from `--labels FILE`; without the flag, from a labels file beside the model
 * ({@link LABEL_FILES_BESIDE_MODEL}) when one names exactly the model's classes. Either way
 * a found file is said on stderr (`notes`, for --json runs the caller keeps it off stdout),
 * and one that does not fit is said and left out, never used silently.
 */
export async function loadLabels(
  model: Model,
  path: string | undefined,
  modelPath?: string,
  note: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<ClassNames | undefined> {
  if (path !== undefined) return readLabelsFile(model, path, '--labels');
  if (modelPath === undefined) return undefined;
  const out = model.storedShape(model.spec.outputs[0]);
  if (out.length !== 2) return undefined;
  for (const name of LABEL_FILES_BESIDE_MODEL) {
    const candidate = join(dirname(modelPath), name);
    if (!existsSync(candidate)) continue;
    try {
      const names = await readLabelsFile(model, candidate, 'labels');
      note(`convscope: class names from '${candidate}', found beside the model (--labels FILE chooses others)`);
      return names;
    } catch (e) {
      note(`convscope: not using '${candidate}' beside the model for class names: ${(e as Error).message.replace(/^labels: /, '')}`);
    }
  }
  return undefined;
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
  if (c !== null && c !== 3 && c !== 1) throw new UsageError(`model '${model.name}' takes ${c}-channel input; convscope feeds RGB (3-channel) or grayscale (1-channel) images`);
  if (c === 1 && (mode === 'vgg16' || mode === 'squeezenet' || mode === 'torch')) throw new UsageError(`--preprocess ${mode} needs RGB input; model '${model.name}' takes grayscale`);
  const size: [number, number] = [h ?? fallbackSize, w ?? fallbackSize];
  // a grayscale model gets PIL's 'L' conversion, as Keras's load_img(color_mode='grayscale')
  const resized = kerasLoadImg(c === 1 ? toGrayU8(original) : original, size);
  const tensor = cs.tensor(preprocess(resized.data, mode), [1, size[0], size[1], c ?? 3]);
  return { name: basename(path), original, tensor, size };
}

/** The most filters one run may ask for (a layer of VGG16 has 512; 4096 covers any real layer). */
export const MAX_FILTERS = 4096;

/**
 * Parses '0-63', '3', '0,5,9-11' into a sorted list of distinct integers, checking the
 * count before expanding anything (a range of a billion is refused, not allocated).
 */
export function parseRange(spec: string, what: string, max = MAX_FILTERS): number[] {
  const parts: [number, number][] = [];
  let count = 0;
  for (const part of spec.split(',')) {
    const m = /^\s*(\d{1,12})\s*(?:-\s*(\d{1,12})\s*)?$/.exec(part);
    if (!m) throw new UsageError(`${what}: cannot read '${part}' (use forms like 0-63 or 1,4,9-11)`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new UsageError(`${what}: range '${part}' goes backwards`);
    count += b - a + 1;
    if (count > max) throw new UsageError(`${what}: '${spec}' asks for more than ${max} filters`);
    parts.push([a, b]);
  }
  const out = new Set<number>();
  for (const [a, b] of parts) for (let i = a; i <= b; i++) out.add(i);
  return [...out].sort((x, y) => x - y);
}

/** A comma-separated list; an empty one is a mistake, not "the defaults". */
export function parseList(spec: string | undefined, what = '--layers'): string[] | undefined {
  if (spec === undefined) return undefined;
  const list = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new UsageError(`${what} is empty: give one or more names separated by commas, or leave it out for the defaults`);
  return list;
}

/** A whole number in [lo, hi], for flags such as --steps and --batch. */
export function wholeNumber(v: number | undefined, flag: string, lo: number, hi: number): number | undefined {
  if (v === undefined) return undefined;
  if (!(Number.isInteger(v) && v >= lo && v <= hi)) throw new UsageError(`${flag} must be a whole number from ${lo} to ${hi}; got ${v}`);
  return v;
}
