/**
 * The Validate tab's own Web Worker: `convscope validate` (src/validate/validate.ts) in the
 * page. It runs apart from the engine's worker (worker.ts) so that the other tabs keep
 * working while TF.js computes, and so that Cancel can simply end this worker (the page
 * starts a new one for the next run): everything it allocated, TF.js's and convscope's, goes
 * with it.
 *
 * It is given what `convscope validate MODEL [IMAGE]` reads (src/cli/commands/validate.ts):
 * the model's files and architecture, read again here with readModelFile; the Keras config
 * the file stores (for tfjs-layers); and the input tensor exactly as the engine's worker made
 * it from the photo (the CLI's loadInput: decode, Keras load_img, preprocess), or none for
 * validate's seeded random input.
 *
 * TF.js: tfjs-backend-wasm's .wasm files are bundled by Vite (?url) and handed to
 * setWasmPaths before the backend starts; tfjs-webgpu takes this worker's navigator.gpu.
 */
import * as cs from '../../src/index.ts';
import { Model } from '../../src/models/model.ts';
import { BUILTIN_ARCHITECTURES, readModelFile, type ReadModel } from '../../src/models/load_model.ts';
import { squeezeNetKerasConfig, vgg16KerasConfig } from '../../src/models/keras/architectures.ts';
import { readStringAttr, withHdf5File } from '../../src/models/keras/hdf5_file.ts';
import { modelJson } from '../../src/cli/commands/common.ts';
import { formatReport, validateModel, type ValidationRow } from '../../src/validate/validate.ts';
import type { ReferenceName } from '../../src/validate/reference.ts';
import type { StoredConfig } from '../../src/validate/keras_config.ts';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { unzipSync } from 'fflate';
import type { FileBytes, ValidateEvent, ValidateRequest } from './protocol.ts';

const post = (m: ValidateEvent) => (self as unknown as Worker).postMessage(m);

const abs = (u: string) => new URL(u, self.location.href).href;
setWasmPaths({ 'tfjs-backend-wasm.wasm': abs(wasmPlain), 'tfjs-backend-wasm-simd.wasm': abs(wasmSimd), 'tfjs-backend-wasm-threaded-simd.wasm': abs(wasmThreaded) });

/**
 * The Keras config the model's file stores, from its bytes: what storedKerasConfig
 * (src/validate/keras_config.ts) reads from a path in Node, which this worker has no file
 * system for. `arch`: a built-in architecture's name or a Keras JSON config's text.
 */
async function storedConfig(main: FileBytes, arch: string | undefined): Promise<StoredConfig> {
  if (arch !== undefined) {
    if (arch === 'vgg16') return { config: vgg16KerasConfig({ includeTop: true }), kerasVersion: '2.1.6' };
    if (arch === 'vgg16-notop') return { config: vgg16KerasConfig({ includeTop: false }), kerasVersion: '2.1.6' };
    if (arch === 'squeezenet-notop') return { config: squeezeNetKerasConfig({ inputShape: [null, null, 3] }), kerasVersion: '2.1.6' };
    if (!arch.trimStart().startsWith('{')) throw new Error(`'${arch}' is neither one of ${BUILTIN_ARCHITECTURES.join(', ')} nor a Keras JSON config`);
    const json = JSON.parse(arch) as { keras_version?: string };
    return { config: json, kerasVersion: String(json.keras_version ?? '2') };
  }
  const b = main.bytes;
  if (b[0] === 0x50 && b[1] === 0x4b) {
    const files = unzipSync(b, { filter: (f) => f.name === 'config.json' || f.name === 'metadata.json' });
    const text = (n: string) => (files[n] ? new TextDecoder().decode(files[n]) : undefined);
    const config = text('config.json');
    if (!config) throw new Error(`${main.name}: the .keras archive has no config.json`);
    const meta = JSON.parse(text('metadata.json') ?? '{}') as { keras_version?: string };
    return { config: JSON.parse(config) as object, kerasVersion: String(meta.keras_version ?? '3') };
  }
  if (b[0] === 0x89 && b[1] === 0x48) {
    const r = await withHdf5File(b, ({ file }) => ({ config: readStringAttr(file, 'model_config'), version: readStringAttr(file, 'keras_version') }), { fileName: main.name });
    if (!r.config) throw new Error(`${main.name}: the HDF5 file has no model_config (weights only): choose its architecture`);
    return { config: JSON.parse(r.config) as object, kerasVersion: String(r.version ?? '2') };
  }
  const json = JSON.parse(new TextDecoder().decode(b)) as { modelTopology?: { keras_version?: string; model_config?: { keras_version?: string } } };
  if (!json.modelTopology) throw new Error(`${main.name}: the JSON file has no modelTopology`);
  return { config: json.modelTopology, kerasVersion: String(json.modelTopology.keras_version ?? json.modelTopology.model_config?.keras_version ?? '2') };
}

/**
 * Progress: validateModel runs the convscope model 4 times (every layer, the Grad-CAM layer's
 * gradient, the Grad-CAM map, ...) and twice per ascent step, plus 2 (measured on the
 * cats-vs-dogs convnet: 4, 12, 16 runs for 0, 3, 5 steps); each run is counted as it starts.
 */
let runs = 0;
let expected = 1;
let phase = '';
const originalRun = Model.prototype.run;
Model.prototype.run = function (this: Model, ...args: Parameters<Model['run']>) {
  runs++;
  post({ event: 'progress', done: Math.min(runs, expected - 1), total: expected, phase });
  return originalRun.apply(this, args);
};

const jsonRow = (r: ValidationRow) => ({ ...r, ...(r.maxAbs !== undefined && !Number.isFinite(r.maxAbs) ? { maxAbs: String(r.maxAbs), maxRel: String(r.maxRel) } : {}) });

/** The message of validateModel's convscope side when its backend cannot read values synchronously (WebGPU). */
const ASYNC_ONLY = /reads asynchronously/;

async function validate(req: ValidateRequest) {
  const main = req.files.find((f) => f.name === req.main) ?? req.files[0];
  const source = req.files.length === 1 ? main.bytes : { main: main.name, files: new Map(req.files.map((f) => [f.name, f.bytes])) };
  phase = 'reading the model';
  post({ event: 'progress', done: 0, total: 1, phase });
  const read: ReadModel = await readModelFile(source, { fileName: main.name, arch: req.arch });
  const config = await storedConfig(main, req.arch).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
  const steps = req.steps;
  expected = 4 + (steps > 0 ? 2 * steps + 2 : 0) + 1;
  let engineName: 'webgpu' | 'cpu' = req.engine;
  let engineNote: string | undefined;
  const run = async () => {
    runs = 0;
    phase = `TF.js (${req.reference}) against convscope (${engineName})`;
    await cs.setBackend(engineName);
    return validateModel(read, config, { reference: req.reference as ReferenceName, steps, input: req.input, inputShape: req.inputShape, seed: req.seed, filter: req.filter, score: req.score });
  };
  let report: Awaited<ReturnType<typeof validateModel>>;
  try {
    report = await run();
  } catch (e) {
    if (engineName !== 'webgpu' || !ASYNC_ONLY.test(String((e as Error).message))) throw e;
    // validateModel reads convscope's values synchronously (dataSync), which the WebGPU
    // backend cannot: the comparison runs on convscope's plain-TypeScript backend instead
    engineNote = "convscope's side ran on its cpu backend: validateModel reads values synchronously (dataSync), which the WebGPU backend cannot do";
    engineName = 'cpu';
    report = await run();
  }
  report.input = req.inputName ?? report.input;
  const exitCode = !report.passed ? 1 : report.complete ? 0 : 3;
  const json = { command: 'validate', ...report, model: modelJson(read.spec, main.name), rows: report.rows.map(jsonRow), exitCode, backend: engineName, ...(engineNote ? { engineNote } : {}) };
  post({ event: 'done', json, text: formatReport(report), engine: engineName, engineNote });
}

self.onmessage = async (e: MessageEvent<ValidateRequest>) => {
  try {
    await validate(e.data);
  } catch (err) {
    post({ event: 'error', message: err instanceof Error ? err.message : String(err) });
  }
};
// the page sends its request only after this (a message posted while the imports still load may be lost)
post({ event: 'listening' });
