import { loadKerasModel, type LoadedKerasModel } from './keras/load.ts';
import { parseKerasJson } from './keras/config.ts';
import { squeezeNetSpec, vgg16Spec } from './keras/architectures.ts';
import type { Hdf5Source } from './keras/hdf5_file.ts';
import type { ModelSpec } from './keras/spec.ts';
import { Model } from './model.ts';

/** Architectures convscope builds itself, to be filled from a weights-only file. */
export const BUILTIN_ARCHITECTURES = ['vgg16', 'vgg16-notop', 'squeezenet-notop'] as const;
export type BuiltinArchitecture = (typeof BUILTIN_ARCHITECTURES)[number];

export interface LoadModelOptions {
  /**
   * For weights-only files: a built-in architecture name, or a Keras JSON config
   * (its text, or in Node a path to a .json file).
   */
  arch?: string;
  /** Input shape [rows, cols, channels] for the no-top architectures (default: any size). */
  inputShape?: [number | null, number | null, number];
  /** Name used in error messages when `source` is bytes. */
  fileName?: string;
}

/** The ModelSpec of a built-in architecture. */
export function builtinSpec(arch: BuiltinArchitecture, inputShape?: [number | null, number | null, number]): ModelSpec {
  switch (arch) {
    case 'vgg16':
      return vgg16Spec({ includeTop: true });
    case 'vgg16-notop':
      return vgg16Spec({ includeTop: false, inputShape });
    case 'squeezenet-notop':
      return squeezeNetSpec({ inputShape: inputShape ?? [null, null, 3] });
  }
}

async function resolveArch(arch: string, inputShape: LoadModelOptions['inputShape']): Promise<ModelSpec> {
  if ((BUILTIN_ARCHITECTURES as readonly string[]).includes(arch)) return builtinSpec(arch as BuiltinArchitecture, inputShape);
  if (arch.trimStart().startsWith('{')) return parseKerasJson(arch);
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) throw new Error(`unknown architecture '${arch}': use one of ${BUILTIN_ARCHITECTURES.join(', ')} or pass a Keras JSON config`);
  const { readFile } = await import('node:fs/promises');
  let text: string;
  try {
    text = await readFile(arch, 'utf8');
  } catch {
    throw new Error(`unknown architecture '${arch}': not one of ${BUILTIN_ARCHITECTURES.join(', ')}, and no Keras JSON config file of that name`);
  }
  try {
    return parseKerasJson(text);
  } catch (e) {
    throw new Error(`${arch}: ${(e as Error).message}`);
  }
}

/** Reads a Keras .h5 file (full model, or weights-only with `arch`) without touching the engine. */
export async function readModelFile(source: Hdf5Source, o: LoadModelOptions = {}): Promise<LoadedKerasModel> {
  const spec = o.arch ? await resolveArch(o.arch, o.inputShape) : undefined;
  return loadKerasModel(source, { fileName: o.fileName, spec });
}

/** Reads a Keras .h5 file and uploads its weights to the current backend. */
export async function loadModel(source: Hdf5Source, o: LoadModelOptions = {}): Promise<Model> {
  return Model.fromLoaded(await readModelFile(source, o));
}
