/**
 * A TensorFlow.js layers model: `model.json` (`modelTopology`: the Keras
 * config; `weightsManifest`: groups of weights, each stored across the shard
 * files in `paths`, concatenated in manifest order) plus its binary
 * `group*-shard*` files. float32 and int32 weights are read as they are;
 * quantised ones (uint8, uint16 with scale and min, float16) are dequantised.
 */
import { parseModelConfig } from '../keras/config.ts';
import { KerasFileError } from '../keras/errors.ts';
import { matchWeightsToSpec, type LoadedKerasModel } from '../keras/load.ts';
import type { KerasFile, ModelSpec, WeightArray } from '../keras/spec.ts';
import { halfToFloat } from '../keras/float16.ts';

/** Reads a shard named in the manifest (relative to model.json); undefined when it does not exist. */
export type ShardReader = (path: string) => Promise<Uint8Array | undefined>;

interface ManifestWeight {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

interface ManifestGroup {
  paths: string[];
  weights: ManifestWeight[];
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, uint8: 1, uint16: 2, float16: 2, bool: 1 };

function decode(w: ManifestWeight, bytes: Uint8Array, fileName: string): Float32Array {
  const n = w.shape.reduce((a, b) => a * b, 1);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  const q = w.quantization;
  if (q) {
    const scale = q.scale ?? 1;
    const min = q.min ?? 0;
    for (let i = 0; i < n; i++) {
      if (q.dtype === 'uint8') out[i] = dv.getUint8(i) * scale + min;
      else if (q.dtype === 'uint16') out[i] = dv.getUint16(2 * i, true) * scale + min;
      else if (q.dtype === 'float16') out[i] = halfToFloat(dv.getUint16(2 * i, true));
      else throw new KerasFileError(`weight '${w.name}': quantisation dtype '${q.dtype}' is not supported (uint8, uint16, float16)`, fileName);
    }
    return out;
  }
  for (let i = 0; i < n; i++) {
    if (w.dtype === 'float32') out[i] = dv.getFloat32(4 * i, true);
    else if (w.dtype === 'int32') out[i] = dv.getInt32(4 * i, true);
    else throw new KerasFileError(`weight '${w.name}': dtype '${w.dtype}' is not supported (float32, int32)`, fileName);
  }
  return out;
}

function storedBytes(w: ManifestWeight): number {
  const n = w.shape.reduce((a, b) => a * b, 1);
  return n * BYTES[w.quantization?.dtype ?? w.dtype];
}

function readManifest(json: Record<string, unknown>, fileName: string): ManifestGroup[] {
  const m = json.weightsManifest;
  const bad = (why: string): never => {
    throw new KerasFileError(`weightsManifest ${why}`, fileName);
  };
  if (!Array.isArray(m)) return bad('is missing: this model.json has no weights (a bare config works for summary only)');
  return m.map((g, gi) => {
    if (typeof g !== 'object' || g === null || !Array.isArray(g.paths) || !Array.isArray(g.weights)) bad(`group ${gi + 1} has no paths or weights`);
    for (const w of g.weights as ManifestWeight[]) {
      if (typeof w?.name !== 'string' || !Array.isArray(w.shape) || !w.shape.every((d) => Number.isInteger(d) && d >= 0)) bad(`group ${gi + 1}: a weight without a name or a valid shape`);
      if (!(BYTES[w.quantization?.dtype ?? w.dtype] > 0)) bad(`weight '${w.name}': unknown dtype '${w.quantization?.dtype ?? w.dtype}'`);
    }
    return g as ManifestGroup;
  });
}

/** The spec layer a stored weight belongs to: its name minus the variable, matched by path or unique leaf. */
function ownerLayer(spec: ModelSpec, weightName: string, fileName: string, cut: boolean): string | undefined {
  const owner = weightName.includes('/') ? weightName.slice(0, weightName.lastIndexOf('/')) : weightName;
  const names = spec.layers.map((l) => l.name);
  if (names.includes(owner)) return owner;
  const byPath = names.filter((n) => n.endsWith(`/${owner}`));
  if (byPath.length === 1) return byPath[0];
  const leaf = owner.slice(owner.lastIndexOf('/') + 1);
  const byLeaf = names.filter((n) => n === leaf || n.endsWith(`/${leaf}`));
  if (byLeaf.length === 1) return byLeaf[0];
  if (cut) return undefined;
  throw new KerasFileError(`weight '${weightName}' belongs to no layer of the model (no layer named '${owner}')`, fileName);
}

/** Reads a TF.js layers model from its model.json text and a shard reader. */
export async function readTfjsLayersModel(modelJson: string, readShard: ShardReader, fileName: string, until?: string): Promise<LoadedKerasModel> {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(modelJson) as Record<string, unknown>;
  } catch (err) {
    throw new KerasFileError(`not valid JSON (${(err as Error).message})`, fileName);
  }
  if (typeof json.modelTopology !== 'object' || json.modelTopology === null) {
    throw new KerasFileError(json.format === 'graph-model' ? 'a TensorFlow.js graph model (a frozen graph without Keras layers), which cannot be read; export a layers model' : 'a JSON file without modelTopology: not a TensorFlow.js layers model', fileName);
  }
  const spec = parseModelConfig(json, { fileName, until });
  const groups = readManifest(json, fileName);
  const weights = new Map<string, WeightArray[]>();
  for (const [gi, g] of groups.entries()) {
    const parts: Uint8Array[] = [];
    for (const p of g.paths) {
      const b = await readShard(p);
      if (!b) throw new KerasFileError(`weight file '${p}' (group ${gi + 1}) is missing: keep the group*-shard* files next to model.json`, fileName);
      parts.push(b);
    }
    const total = parts.reduce((a, b) => a + b.length, 0);
    const need = g.weights.reduce((a, w) => a + storedBytes(w), 0);
    if (total < need) {
      throw new KerasFileError(`weight files ${g.paths.map((p) => `'${p}'`).join(', ')} hold ${total} bytes, but their ${g.weights.length} weights need ${need}: a shard is short or damaged`, fileName);
    }
    const all = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    let at = 0;
    for (const w of g.weights) {
      const size = storedBytes(w);
      const values = decode(w, all.subarray(at, at + size), fileName);
      at += size;
      const layer = ownerLayer(spec, w.name, fileName, until !== undefined);
      if (layer === undefined) continue; // a layer cut away by --until
      weights.set(layer, [...(weights.get(layer) ?? []), { name: w.name, shape: [...w.shape], values }]);
    }
  }
  const file: KerasFile = { kind: 'weights', fileName, weights, layerOrder: [...weights.keys()], normalised: false, kerasVersion: spec.kerasVersion, backend: spec.backend };
  return { spec, weights: matchWeightsToSpec(spec, file, { byName: true }), file };
}
