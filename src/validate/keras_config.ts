/**
 * The Keras config as the file itself stores it, for tfjs-layers to build the same
 * model from (read here, not through convscope's parser): an HDF5 file's
 * `model_config` attribute, a `.keras` archive's config.json, a TF.js model.json's
 * `modelTopology`, or the JSON given with --arch for a weights-only file.
 */
import { readFile } from 'node:fs/promises';
import { storedKerasConfigOf, type StoredConfig } from './stored_config.ts';

export { NoConfigError, storedKerasConfigOf, type StoredConfig } from './stored_config.ts';

/** {@link storedKerasConfigOf} of a file on disk; `arch` may also name a Keras JSON config file. */
export async function storedKerasConfig(file: string, arch?: string): Promise<StoredConfig> {
  if (arch !== undefined && arch.endsWith('.json') && !arch.trimStart().startsWith('{')) {
    return storedKerasConfigOf(new Uint8Array(), file, await readFile(arch, 'utf8'));
  }
  if (arch !== undefined) return storedKerasConfigOf(new Uint8Array(), file, arch);
  return storedKerasConfigOf(new Uint8Array(await readFile(file)), file);
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
