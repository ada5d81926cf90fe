/**
 * The Keras config a model file itself stores, from its bytes, for tfjs-layers to build
 * the same model from (read here, not through convscope's parser): an HDF5 file's
 * `model_config` attribute, a `.keras` archive's config.json, a TF.js model.json's
 * `modelTopology`; or, for a weights-only file, a built-in architecture's config or a
 * Keras JSON config's text. No file system: the CLI (keras_config.ts) and the page's
 * Validate worker both call it.
 */
import { unzipSync } from 'fflate';
import { readStringAttr, withHdf5File } from '../models/keras/hdf5_file.ts';
import { squeezeNetKerasConfig, vgg16KerasConfig } from '../models/keras/architectures.ts';

export interface StoredConfig {
  config: object;
  kerasVersion: string;
}

/** The file holds no config that TF.js could build the model from. */
export class NoConfigError extends Error {}

/**
 * `arch`: a built-in architecture's name (`vgg16`, `vgg16-notop`, `squeezenet-notop`) or a
 * Keras JSON config's text; then `bytes` are not read. `fileName` goes into messages.
 */
export async function storedKerasConfigOf(bytes: Uint8Array, fileName: string, arch?: string): Promise<StoredConfig> {
  if (arch !== undefined) {
    // the built-in architectures: the Keras config keras.applications writes (architectures.ts)
    if (arch === 'vgg16') return { config: vgg16KerasConfig({ includeTop: true }), kerasVersion: '2.1.6' };
    if (arch === 'vgg16-notop') return { config: vgg16KerasConfig({ includeTop: false }), kerasVersion: '2.1.6' };
    if (arch === 'squeezenet-notop') return { config: squeezeNetKerasConfig({ inputShape: [null, null, 3] }), kerasVersion: '2.1.6' };
    if (!arch.trimStart().startsWith('{')) throw new NoConfigError(`'${arch}' is neither a built-in architecture nor a Keras JSON config`);
    const json = JSON.parse(arch) as { keras_version?: string };
    return { config: json, kerasVersion: String(json.keras_version ?? '2') };
  }
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) {
    const files = unzipSync(bytes, { filter: (f) => f.name === 'config.json' || f.name === 'metadata.json' });
    const text = (n: string) => (files[n] ? new TextDecoder().decode(files[n]) : undefined);
    const config = text('config.json');
    if (!config) throw new NoConfigError('the .keras archive has no config.json');
    const meta = JSON.parse(text('metadata.json') ?? '{}') as { keras_version?: string };
    return { config: JSON.parse(config) as object, kerasVersion: String(meta.keras_version ?? '3') };
  }
  if (bytes[0] === 0x89 && bytes[1] === 0x48) {
    const r = await withHdf5File(bytes, ({ file }) => ({ config: readStringAttr(file, 'model_config'), version: readStringAttr(file, 'keras_version') }), { fileName });
    if (!r.config) throw new NoConfigError('the HDF5 file has no model_config (weights only): name its architecture (--arch in the CLI)');
    return { config: JSON.parse(r.config) as object, kerasVersion: String(r.version ?? '2') };
  }
  const json = JSON.parse(new TextDecoder().decode(bytes)) as { modelTopology?: { keras_version?: string; model_config?: { keras_version?: string } } };
  if (!json.modelTopology) throw new NoConfigError('the JSON file has no modelTopology');
  return { config: json.modelTopology, kerasVersion: String(json.modelTopology.keras_version ?? json.modelTopology.model_config?.keras_version ?? '2') };
}
