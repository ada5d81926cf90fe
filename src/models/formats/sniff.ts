/** Which kind of model file some bytes are, from the bytes themselves (never the file name alone). */

export type ModelFileFormat = 'hdf5' | 'keras-archive' | 'json' | 'unknown';

/** The formats convscope reads, as a user would name them (for "this is none of them" messages). */
export const FORMAT_LIST =
  'a Keras HDF5 file (.h5/.hdf5 from model.save or save_weights, any Keras version), a Keras 3 archive (.keras), ' +
  'a Keras 3 .weights.h5 (with --arch config.json), a TensorFlow.js layers model (model.json with its group*-shard* files), ' +
  'or a Keras JSON config (model.to_json(), for summary)';

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

export function sniffModelFormat(bytes: Uint8Array): ModelFileFormat {
  // HDF5's superblock may sit after a user block of 512, 1024, 2048, ... bytes
  for (let at = 0; at + 8 <= bytes.length && at <= 1 << 20; at = at === 0 ? 512 : at * 2) {
    if (HDF5_SIGNATURE.every((b, i) => bytes[at + i] === b)) return 'hdf5';
  }
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return 'keras-archive';
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3; // UTF-8 byte order mark
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  if (bytes[i] === 0x7b) return 'json';
  return 'unknown';
}
