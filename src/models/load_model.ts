import { cutModelSpec, parseKerasJson } from './keras/config.ts';
import { KerasFileError } from './keras/errors.ts';
import { openModelFile, type ModelSource } from './formats/open_model_file.ts';
import { squeezeNetSpec, vgg16Spec } from './keras/architectures.ts';
import type { ModelSpec, WeightArray } from './keras/spec.ts';
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
  /** Cut the model after this layer (it becomes the output); later layers are not read. */
  until?: string;
  /** For a model with several outputs: the one predictions and Grad-CAM use (default: the first). */
  output?: string;
}

/** Puts the chosen output first; the error lists the model's outputs. */
function selectOutput(spec: ModelSpec, output: string | undefined, fileName?: string): ModelSpec {
  if (output === undefined) return spec;
  const match = spec.outputs.filter((o) => o === output || o.endsWith(`/${output}`));
  if (match.length !== 1) {
    throw new KerasFileError(`--output: the model's outputs are ${spec.outputs.map((o) => `'${o}'`).join(', ')}; got '${output}'`, fileName);
  }
  return { ...spec, outputs: [match[0], ...spec.outputs.filter((o) => o !== match[0])] };
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

async function resolveArch(arch: string, inputShape: LoadModelOptions['inputShape'], until?: string): Promise<ModelSpec> {
  if ((BUILTIN_ARCHITECTURES as readonly string[]).includes(arch)) {
    const spec = builtinSpec(arch as BuiltinArchitecture, inputShape);
    return until === undefined ? spec : cutModelSpec(spec, until);
  }
  if (arch.trimStart().startsWith('{')) return parseKerasJson(arch, { until });
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) throw new Error(`unknown architecture '${arch}': use one of ${BUILTIN_ARCHITECTURES.join(', ')} or pass a Keras JSON config`);
  const fsName = 'node:fs/promises'; // a variable: browser bundles (the web page) never see it
  const { readFile } = (await import(/* @vite-ignore */ fsName)) as typeof import('node:fs/promises');
  let text: string;
  try {
    text = await readFile(arch, 'utf8');
  } catch {
    throw new Error(`unknown architecture '${arch}': not one of ${BUILTIN_ARCHITECTURES.join(', ')}, and no Keras JSON config file of that name`);
  }
  try {
    return parseKerasJson(text, { fileName: arch, until });
  } catch (e) {
    if (e instanceof KerasFileError) throw e;
    throw new Error(`${arch}: ${(e as Error).message}`);
  }
}

/** A model read from a file, with its weights, ready for an engine. */
export interface ReadModel {
  spec: ModelSpec;
  weights: Map<string, WeightArray[]>;
  /** The file format that was read, in words. */
  format: string;
}

/**
 * Reads any supported model file (see openModelFile: Keras HDF5 of any version,
 * Keras 3 `.keras`, TF.js layers models; weights-only files with `arch`) without
 * touching the engine.
 */
export async function readModelFile(source: ModelSource, o: LoadModelOptions = {}): Promise<ReadModel> {
  const spec = o.arch ? await resolveArch(o.arch, o.inputShape, o.until) : undefined;
  const m = await openModelFile(source, { fileName: o.fileName, spec, until: o.until });
  return { spec: selectOutput(m.spec, o.output, o.fileName), weights: m.weights!, format: m.format };
}

/** Reads only the architecture (a bare Keras JSON config or model.json is enough): for summaries. */
export async function readModelArchitecture(source: ModelSource, o: LoadModelOptions = {}): Promise<ModelSpec> {
  const spec = o.arch ? await resolveArch(o.arch, o.inputShape, o.until) : undefined;
  return selectOutput((await openModelFile(source, { fileName: o.fileName, spec, configOnly: true, until: o.until })).spec, o.output, o.fileName);
}

/** Reads a model file and uploads its weights to the current backend. */
export async function loadModel(source: ModelSource, o: LoadModelOptions = {}): Promise<Model> {
  const m = await readModelFile(source, o);
  return new Model(m.spec, m.weights);
}
