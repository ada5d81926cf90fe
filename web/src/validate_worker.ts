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
import { readModelFile, type ReadModel } from '../../src/models/load_model.ts';
import { modelJson } from '../../src/cli/commands/common.ts';
import { formatReport, validateModel, type ValidationRow } from '../../src/validate/validate.ts';
import type { ReferenceName } from '../../src/validate/reference.ts';
import { storedKerasConfigOf, type StoredConfig } from '../../src/validate/stored_config.ts';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import type { FileBytes, ValidateEvent, ValidateRequest } from './protocol.ts';

const post = (m: ValidateEvent) => (self as unknown as Worker).postMessage(m);

const abs = (u: string) => new URL(u, self.location.href).href;
setWasmPaths({ 'tfjs-backend-wasm.wasm': abs(wasmPlain), 'tfjs-backend-wasm-simd.wasm': abs(wasmSimd), 'tfjs-backend-wasm-threaded-simd.wasm': abs(wasmThreaded) });

/** The Keras config the model's file stores (storedKerasConfigOf, as the CLI), errors naming the file. */
async function storedConfig(main: FileBytes, arch: string | undefined): Promise<StoredConfig> {
  try {
    return await storedKerasConfigOf(main.bytes, main.name, arch);
  } catch (e) {
    throw new Error(`${main.name}: ${(e as Error).message}`);
  }
}

const jsonRow = (r: ValidationRow) => ({ ...r, ...(r.maxAbs !== undefined && !Number.isFinite(r.maxAbs) ? { maxAbs: String(r.maxAbs), maxRel: String(r.maxRel) } : {}) });

async function validate(req: ValidateRequest) {
  const main = req.files.find((f) => f.name === req.main) ?? req.files[0];
  if (req.reference === 'tfjs-webgpu' && !(await navigator.gpu?.requestAdapter().catch(() => null))) {
    // without this, TF.js says only that its 'webgpu' backend "has not yet been initialized"
    throw new Error("TF.js's webgpu backend needs WebGPU, which this browser does not offer to the page: choose TF.js wasm (the default) or cpu");
  }
  const source = req.files.length === 1 ? main.bytes : { main: main.name, files: new Map(req.files.map((f) => [f.name, f.bytes])) };
  post({ event: 'progress', done: 0, total: 1, phase: 'reading the model' });
  const read: ReadModel = await readModelFile(source, { fileName: main.name, arch: req.arch });
  const config = await storedConfig(main, req.arch).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
  const engineName: 'webgpu' | 'cpu' = req.engine;
  await cs.setBackend(engineName);
  const onProgress = (done: number, total: number, what: string) =>
    post({ event: 'progress', done, total, phase: `${what} (TF.js ${req.reference}, convscope ${engineName})` });
  const report = await validateModel(read, config, {
    reference: req.reference as ReferenceName,
    steps: req.steps,
    input: req.input,
    inputShape: req.inputShape,
    seed: req.seed,
    filter: req.filter,
    score: req.score,
    onProgress,
  });
  report.input = req.inputName ?? report.input;
  const exitCode = !report.passed ? 1 : report.complete ? 0 : 3;
  const json = { command: 'validate', ...report, model: modelJson(read.spec, main.name), rows: report.rows.map(jsonRow), exitCode, backend: engineName };
  post({ event: 'done', json, text: formatReport(report), engine: engineName });
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
