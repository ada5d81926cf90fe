/**
 * The Keras config as the file itself stores it, for tfjs-layers to build the same
 * model from (read here, not through convscope's parser): an HDF5 file's
 * `model_config` attribute, a `.keras` archive's config.json, a TF.js model.json's
 * `modelTopology`, or the JSON given with --arch for a weights-only file.
 */
import { readFile } from 'node:fs/promises';
import { unzipSync } from 'fflate';
import { readStringAttr, withHdf5File } from '../models/keras/hdf5_file.ts';
import { squeezeNetKerasConfig, vgg16KerasConfig } from '../models/keras/architectures.ts';

export interface StoredConfig {
  config: object;
  kerasVersion: string;
}

export class NoConfigError extends Error {}

export async function storedKerasConfig(file: string, arch?: string): Promise<StoredConfig> {
  if (arch !== undefined) {
    // the built-in architectures: the Keras config keras.applications writes (architectures.ts)
    if (arch === 'vgg16') return { config: vgg16KerasConfig({ includeTop: true }), kerasVersion: '2.1.6' };
    if (arch === 'vgg16-notop') return { config: vgg16KerasConfig({ includeTop: false }), kerasVersion: '2.1.6' };
    if (arch === 'squeezenet-notop') return { config: squeezeNetKerasConfig({ inputShape: [null, null, 3] }), kerasVersion: '2.1.6' };
    if (!arch.endsWith('.json') && !arch.trimStart().startsWith('{')) {
      throw new NoConfigError(`'${arch}' is neither a built-in architecture nor a Keras JSON config`);
    }
    const json = JSON.parse(arch.trimStart().startsWith('{') ? arch : await readFile(arch, 'utf8')) as { keras_version?: string };
    return { config: json, kerasVersion: String(json.keras_version ?? '2') };
  }
  const bytes = new Uint8Array(await readFile(file));
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) {
    const files = unzipSync(bytes, { filter: (f) => f.name === 'config.json' || f.name === 'metadata.json' });
    const text = (n: string) => (files[n] ? new TextDecoder().decode(files[n]) : undefined);
    const config = text('config.json');
    if (!config) throw new NoConfigError('the .keras archive has no config.json');
    const meta = JSON.parse(text('metadata.json') ?? '{}') as { keras_version?: string };
    return { config: JSON.parse(config) as object, kerasVersion: String(meta.keras_version ?? '3') };
  }
  if (bytes[0] === 0x89 && bytes[1] === 0x48) {
    const r = await withHdf5File(bytes, ({ file: f }) => ({ config: readStringAttr(f, 'model_config'), version: readStringAttr(f, 'keras_version') }), { fileName: file });
    if (!r.config) throw new NoConfigError('the HDF5 file has no model_config (weights only): pass its architecture with --arch');
    return { config: JSON.parse(r.config) as object, kerasVersion: String(r.version ?? '2') };
  }
  const json = JSON.parse(new TextDecoder().decode(bytes)) as { modelTopology?: { keras_version?: string; model_config?: { keras_version?: string } } };
  if (!json.modelTopology) throw new NoConfigError('the JSON file has no modelTopology');
  return { config: json.modelTopology, kerasVersion: String(json.modelTopology.keras_version ?? json.modelTopology.model_config?.keras_version ?? '2') };
}

/**
 * A Keras config with every InputLayer's batch input shape (nested models' included)
 * set to size x size, and the fixed-window pooling layers named in `headPools` set to
 * an n x n window and stride: where a head averages the whole final map with a fixed
 * window (InceptionV3's 8x8, MobileNetV2's 7x7 at 224), the same global average at the
 * smaller map. Both engines then build the model at that size from the same JSON (the
 * validation report uses it to keep the keras.applications configs quick to compare).
 */
export function withInputSize(config: unknown, size: number, headPools: Record<string, number> = {}): unknown {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v !== 'object' || v === null) return v;
    const o = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) {
      if (k === 'batch_input_shape' || k === 'batch_shape') {
        // Keras 3 writes shapes as {"class_name": "__tuple__", "items": [...]}
        const tuple = typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as { items: unknown[] }) : undefined;
        const s = (tuple ? tuple.items : x) as unknown[];
        if (s.length !== 4) throw new Error(`withInputSize: input shape [${s.join(', ')}] is not (batch, rows, cols, channels)`);
        const shape = [s[0], size, size, s[3]];
        out[k] = tuple ? { ...tuple, items: shape } : shape;
      } else out[k] = walk(x);
    }
    if (typeof o.name === 'string' && o.name in headPools && 'pool_size' in o) {
      const n = headPools[o.name];
      out.pool_size = [n, n];
      out.strides = [n, n];
    }
    return out;
  };
  return walk(config);
}
