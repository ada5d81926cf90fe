/**
 * Keras 3's native `.keras` file: a zip holding `config.json` (the model's
 * config), `metadata.json` (the Keras version) and `model.weights.h5`
 * (weights in Keras 3's `layers/<name>/vars/<i>` layout). Read with fflate.
 */
import { unzipSync } from 'fflate';
import { parseModelConfig } from '../keras/config.ts';
import { KerasFileError } from '../keras/errors.ts';
import { matchWeightsToSpec, readKerasFile, type LoadedKerasModel } from '../keras/load.ts';

const MEMBERS = ['config.json', 'metadata.json', 'model.weights.h5'];

function text(bytes: Uint8Array): string {
  return new TextDecoder('utf-8').decode(bytes);
}

/** Reads a `.keras` archive from its bytes into an architecture and canonical weights. */
export async function readKerasArchive(bytes: Uint8Array, fileName: string, until?: string): Promise<LoadedKerasModel> {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, { filter: (f) => MEMBERS.includes(f.name) });
  } catch (err) {
    throw new KerasFileError(`a zip file, but it cannot be read as a Keras archive (${(err as Error).message})`, fileName);
  }
  const config = files['config.json'];
  if (!config) throw new KerasFileError('a zip file without config.json: not a Keras 3 .keras archive', fileName);
  let kerasVersion: string | undefined;
  if (files['metadata.json']) {
    try {
      const meta = JSON.parse(text(files['metadata.json'])) as { keras_version?: unknown };
      if (typeof meta.keras_version === 'string') kerasVersion = meta.keras_version;
    } catch {
      throw new KerasFileError('the .keras archive\'s metadata.json is not valid JSON', fileName);
    }
  }
  let configJson: unknown;
  try {
    configJson = JSON.parse(text(config));
  } catch (err) {
    throw new KerasFileError(`the .keras archive's config.json is not valid JSON (${(err as Error).message})`, fileName);
  }
  const weightsBytes = files['model.weights.h5'];
  if (!weightsBytes) throw new KerasFileError('the .keras archive has no model.weights.h5 member (its weights are missing)', fileName);
  const spec = parseModelConfig(configJson, { fileName, kerasVersion: kerasVersion ?? '3', until });
  const member = `${fileName} (model.weights.h5)`;
  const file = await readKerasFile(weightsBytes, { fileName: member });
  const weights = matchWeightsToSpec(spec, { ...file, fileName: member }, { byName: true });
  return { spec, weights, file };
}
