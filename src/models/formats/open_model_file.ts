/**
 * One entry point for every model file a user brings: the format is sniffed
 * from the bytes (HDF5, zip, JSON), never taken from the extension alone.
 *
 * - Keras HDF5 (`.h5`/`.hdf5`): full models of any Keras version, or
 *   weights-only files (legacy `save_weights`, Keras 3 `.weights.h5`) with an
 *   architecture;
 * - Keras 3 `.keras` archives;
 * - TensorFlow.js layers models (`model.json` plus its shard files, read
 *   next to it in Node or from the dropped files in a browser);
 * - a bare config (Keras JSON, or a model.json without shards) when only the
 *   architecture is wanted (`configOnly`: summary).
 */
import { parseModelConfig } from '../keras/config.ts';
import { KerasFileError } from '../keras/errors.ts';
import { loadKerasModel, type LoadedKerasModel } from '../keras/load.ts';
import { inferShapes } from '../keras/summary_shapes.ts';
import type { ModelSpec } from '../keras/spec.ts';
import { readKerasArchive } from './keras_archive.ts';
import { FORMAT_LIST, sniffModelFormat } from './sniff.ts';
import { readTfjsLayersModel } from './tfjs_layers.ts';

/** A path (Node), the file's bytes, or a set of dropped files (name -> bytes) with the main one named. */
export type ModelSource = string | Uint8Array | ArrayBuffer | { main: string; files: Map<string, Uint8Array> };

export interface OpenModelOptions {
  /** The architecture for a weights-only file. */
  spec?: ModelSpec;
  /** Name used in messages (default: the path, or the main file's name). */
  fileName?: string;
  /** Only the architecture is needed: a bare config is accepted and no weights are read. */
  configOnly?: boolean;
  /** Cut the model after this layer: what comes later is not read (it may not be supported). */
  until?: string;
}

/** What was opened: the architecture and, unless `configOnly` found none, the canonical weights. */
export interface OpenedModel {
  spec: ModelSpec;
  weights?: LoadedKerasModel['weights'];
  /** The format that was read, in words. */
  format: string;
}

async function nodeFs(): Promise<typeof import('node:fs/promises')> {
  const name = 'node:fs/promises'; // a variable: browser bundles never see it
  return (await import(/* @vite-ignore */ name)) as typeof import('node:fs/promises');
}

/** The first bytes of a path, or the bytes of an in-memory source. */
async function head(source: ModelSource, fileName: string): Promise<Uint8Array> {
  if (typeof source === 'string') {
    const fs = await nodeFs();
    let fh;
    try {
      fh = await fs.open(source, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new KerasFileError(code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a folder, not a model file' : `cannot open file (${code ?? String(err)})`, fileName);
    }
    try {
      const buf = new Uint8Array(4096);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  const main = source.files.get(source.main);
  if (!main) throw new KerasFileError('is not among the given files', fileName);
  return main;
}

async function allBytes(source: ModelSource): Promise<Uint8Array> {
  if (typeof source === 'string') return new Uint8Array(await (await nodeFs()).readFile(source));
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  return source.files.get(source.main)!;
}

/** Reads the shards a model.json names: next to it on disk, or among the dropped files (by base name). */
function shardReader(source: ModelSource): (p: string) => Promise<Uint8Array | undefined> {
  if (typeof source === 'string') {
    return async (p) => {
      const pathName = 'node:path';
      const path = (await import(/* @vite-ignore */ pathName)) as typeof import('node:path');
      const full = path.join(path.dirname(source), p);
      try {
        return new Uint8Array(await (await nodeFs()).readFile(full));
      } catch {
        return undefined;
      }
    };
  }
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) return async () => undefined;
  return async (p) => source.files.get(p) ?? source.files.get(p.slice(p.lastIndexOf('/') + 1));
}

/** Opens any supported model file; see the module comment. Every failure is one KerasFileError naming the file. */
export async function openModelFile(source: ModelSource, opts: OpenModelOptions = {}): Promise<OpenedModel> {
  const fileName = opts.fileName ?? (typeof source === 'string' ? source : source instanceof Uint8Array || source instanceof ArrayBuffer ? '<model bytes>' : source.main);
  const bytes = await head(source, fileName);
  if (bytes.length === 0) throw new KerasFileError(`the file is empty; expected ${FORMAT_LIST}`, fileName);
  const format = sniffModelFormat(bytes);
  if (format === 'hdf5') {
    const h5source = typeof source === 'string' || source instanceof Uint8Array || source instanceof ArrayBuffer ? source : bytes;
    const m = await loadKerasModel(h5source, { fileName, spec: opts.spec, until: opts.until });
    return { spec: m.spec, weights: m.weights, format: m.file.kind === 'model' ? 'Keras HDF5 model' : 'Keras HDF5 weights' };
  }
  if (format === 'keras-archive') {
    const m = await readKerasArchive(await allBytes(source), fileName, opts.until);
    return { spec: m.spec, weights: m.weights, format: 'Keras 3 archive (.keras)' };
  }
  if (format === 'json') {
    const text = new TextDecoder().decode(await allBytes(source));
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new KerasFileError(`a JSON file that does not parse (${(err as Error).message})`, fileName);
    }
    const tfjs = typeof json.modelTopology === 'object' && json.modelTopology !== null;
    if (opts.configOnly && !(tfjs && Array.isArray(json.weightsManifest))) {
      const spec = parseModelConfig(json, { fileName, until: opts.until });
      inferShapes(spec, { fileName }); // a shape error names the file now, not later
      return { spec, format: tfjs ? 'TensorFlow.js model.json (config only)' : 'Keras JSON config' };
    }
    if (tfjs || json.format === 'graph-model') {
      const m = await readTfjsLayersModel(text, shardReader(source), fileName, opts.until);
      return { spec: m.spec, weights: m.weights, format: 'TensorFlow.js layers model' };
    }
    if (typeof json.class_name === 'string') {
      throw new KerasFileError('a Keras JSON config holds no weights: pass the weights file as MODEL and this config with --arch (summary reads a config alone)', fileName);
    }
    throw new KerasFileError(`a JSON file that is neither a Keras config nor a TensorFlow.js model.json; expected ${FORMAT_LIST}`, fileName);
  }
  const hint = bytes[0] === 0x08 || bytes[0] === 0x0a ? ' (it looks like a TensorFlow SavedModel or a protobuf, which cannot be read; export the model with model.save("model.h5") or model.save("model.keras"))' : '';
  throw new KerasFileError(`not a model file convscope can read${hint}; expected ${FORMAT_LIST}`, fileName);
}

