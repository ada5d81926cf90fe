/**
 * The engine's Web Worker: every tensor, model and GPU call of the page lives here, so the
 * page never freezes while shaders compile or a pass runs. The page sends one request at a
 * time (protocol.ts) and gets one reply; a filter run also streams one 'step' event per
 * ascent step and listens for pause / resume / cancel between steps.
 *
 * Everything computed is the library's own code, called as the CLI calls it
 * (src/cli/commands/*.ts): loadModel, decodePredictions, computeActivations, gradCam,
 * filterStep/initialImages/deprocessImage/patternGrid (filterPatterns' loop, opened up so
 * that each step's images can be shown), kerasLoadImg + preprocess (the CLI's loadInput).
 */
import * as cs from '../../src/index.ts';
import { engine, memory } from '../../src/engine/engine.ts';
import { BUILTIN_ARCHITECTURES, readModelFile } from '../../src/models/load_model.ts';
import { Model } from '../../src/models/model.ts';
import { decodeImage, detectImageFormat, initImageDecoders } from '../../src/viz/image_decode.ts';
import type { ImageU8 } from '../../src/viz/image.ts';
import { toGrayU8 } from '../../src/viz/image.ts';
import { kerasLoadImg } from '../../src/viz/resize.ts';
import { defaultPreprocess, preprocess, type PreprocessMode } from '../../src/viz/preprocess.ts';
import { classNamesFor, decodePredictions, type ClassNames } from '../../src/viz/predictions.ts';
import { labelClassNames, parseLabels } from '../../src/viz/labels.ts';
import { computeActivations } from '../../src/viz/activations.ts';
import { gradCam } from '../../src/viz/gradcam.ts';
import { filterStep, initialImages } from '../../src/viz/filters.ts';
import { deprocessImage, patternGrid } from '../../src/viz/grid.ts';
import { formatShape } from '../../src/models/keras/summary_shapes.ts';
import type { Control, FileBytes, ModelInfo, NeedsArch, Reply, Request, StepEvent, ValidationInput } from './protocol.ts';

const post = (m: Reply | StepEvent, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

let backendName: 'webgpu' | 'cpu' = 'webgpu';
let backendInfo = '';
/** What was opened, kept so that a lost device can rebuild the model and the input. */
let modelRequest: Extract<Request, { op: 'openModel' }> | undefined;
/** A weights-only file that was opened without an architecture: kept until one is chosen. */
let pendingWeights: Extract<Request, { op: 'openModel' }> | undefined;
let model: Model | undefined;
let names: ClassNames | undefined;
let image: { name: string; rgb: ImageU8 } | undefined;
let input: cs.Tensor | undefined;
/** The preprocessing chosen in the page (undefined: the model's default). */
let chosenPreprocess: PreprocessMode | undefined;
const PREPROCESS_MODES = ['none', 'rescale', 'vgg16', 'squeezenet', 'tf', 'torch'];
/** A filter run's controls. */
let paused = false;
let cancelled = false;
let wake: (() => void) | undefined;

function mem() {
  try {
    const m = memory();
    return { liveBytes: m.liveBytes, numTensors: m.numTensors };
  } catch {
    return { liveBytes: 0, numTensors: 0 };
  }
}

async function init(want: 'webgpu' | 'cpu' = 'webgpu') {
  let fallback: string | undefined;
  if (want === 'webgpu') {
    const gpu = (navigator as { gpu?: GPU }).gpu;
    const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
    if (!gpu || !adapter) {
      fallback = gpu ? 'navigator.gpu.requestAdapter() found no adapter' : 'this browser has no navigator.gpu';
      want = 'cpu';
    }
  }
  try {
    const b = await cs.setBackend(want);
    backendName = want;
    backendInfo = b.describe();
  } catch (e) {
    if (want === 'cpu') throw e;
    fallback = (e as Error).message;
    backendName = 'cpu';
    backendInfo = (await cs.setBackend('cpu')).describe();
  }
  return { backend: backendName, adapter: backendInfo, fallback };
}

/** A lost device (GPU reset): a new one, then the model and input again from the kept bytes. */
async function ensureDevice(): Promise<boolean> {
  const b = engine.getBackendInstance(backendName);
  if (!b?.isLost?.()) return false;
  model = undefined;
  input = undefined;
  backendInfo = (await cs.setBackend(backendName)).describe();
  if (modelRequest) await openModel(modelRequest);
  return true;
}

function isLost(): boolean {
  return !!engine.getBackendInstance(backendName)?.isLost?.();
}

function mainFile(files: FileBytes[]): FileBytes {
  const json = files.filter((f) => /\.json$/i.test(f.name));
  if (json.length) return json.find((f) => /model\.json$/i.test(f.name)) ?? json[0];
  const model = files.find((f) => /\.(h5|hdf5|keras)$/i.test(f.name));
  if (model) return model;
  if (files.length === 1) return files[0];
  const bin = files.filter((f) => !/\.txt$/i.test(f.name));
  if (bin.length === files.length || bin.length === 0) {
    throw new Error(`${files.map((f) => f.name).join(', ')}: shard files alone are no model; pick the model.json together with its shard files`);
  }
  return bin[0];
}

/** A Keras JSON config (a model's architecture without weights), not a TF.js model.json. */
function isKerasConfig(f: FileBytes): boolean {
  try {
    const j = JSON.parse(new TextDecoder().decode(f.bytes)) as Record<string, unknown>;
    return typeof j.class_name === 'string' && !('modelTopology' in j);
  } catch {
    return false;
  }
}

async function openModel(req: Extract<Request, { op: 'openModel' }>): Promise<ModelInfo | NeedsArch> {
  let modelFiles = req.files.filter((f) => !/\.txt$/i.test(f.name));
  const labelsFile = req.labels ?? req.files.find((f) => /\.txt$/i.test(f.name));
  let arch = req.arch;
  // weights (.h5) dropped together with their Keras JSON config: the config is the architecture (the CLI's --arch config.json)
  const h5 = modelFiles.filter((f) => /\.(h5|hdf5)$/i.test(f.name));
  const configs = modelFiles.filter((f) => /\.json$/i.test(f.name) && isKerasConfig(f));
  if (arch === undefined && h5.length === 1 && configs.length === 1) {
    arch = new TextDecoder().decode(configs[0].bytes);
    modelFiles = h5;
    req = { ...req, files: [...h5, ...(labelsFile ? [labelsFile] : [])], arch };
  }
  const main = mainFile(modelFiles);
  const source = modelFiles.length === 1 ? main.bytes : { main: main.name, files: new Map(modelFiles.map((f) => [f.name, f.bytes])) };
  let read;
  try {
    read = await readModelFile(source, { fileName: main.name, arch });
  } catch (e) {
    if (arch === undefined && /weights-only file/.test((e as Error).message)) {
      // weights without their architecture: the page asks which one (as the CLI's --arch)
      pendingWeights = req;
      return {
        needsArch: {
          file: main.name,
          architectures: [...BUILTIN_ARCHITECTURES],
          message: `${main.name} holds weights only: it has no model config saying which layers they belong to. Choose the architecture it was saved from (the names the CLI's --arch takes), or give its Keras JSON config file.`,
        },
      };
    }
    throw e;
  }
  const next = new Model(read.spec, read.weights);
  let nextNames: ClassNames | undefined;
  try {
    const out = next.storedShape(next.spec.outputs[0]);
    if (out.length === 2) {
      const units = out[1] as number;
      if (labelsFile) nextNames = labelClassNames(parseLabels(new TextDecoder().decode(labelsFile.bytes), labelsFile.name), units, labelsFile.name);
      else if (req.binaryNames && units === 1) nextNames = { count: 2, name: (i) => ({ id: req.binaryNames![i], name: req.binaryNames![i] }) };
      else nextNames = classNamesFor(units);
    }
  } catch (e) {
    next.dispose();
    throw e;
  }
  // only now that the new model works is the old one let go
  model?.dispose();
  input?.dispose();
  input = undefined;
  model = next;
  names = nextNames;
  modelRequest = req;
  pendingWeights = undefined;
  if (image) makeInput();
  return modelInfo(main.name);
}

function modelInfo(file: string): ModelInfo {
  const m = model!;
  const conv = new Set(m.convLayers());
  const layers = m.layerNames.map((n) => {
    const shape = m.storedShape(n);
    return { name: n, className: m.layer(n).className, shape, spatial: shape.length === 4, conv: conv.has(n) };
  });
  let defaultCamLayer: string | undefined;
  try {
    defaultCamLayer = m.lastSpatialLayer();
  } catch {
    /* no spatial layer */
  }
  const ap = m.convAndPoolLayers();
  return {
    name: m.name,
    file,
    summary: m.summary(),
    preprocess: chosenPreprocess ?? defaultPreprocess(modelRequest?.arch, m),
    inputShape: m.inputShape,
    layers,
    classes: names?.count ?? 0,
    classNames: names ? Array.from({ length: names.count }, (_, i) => names!.name(i).name) : [],
    defaultCamLayer,
    defaultActLayer: ap[0],
  };
}

/** The CLI's loadInput (src/cli/context.ts) on bytes: decode, the model's channels and size, Keras's load_img, preprocess. */
function makeInput() {
  input?.dispose();
  input = undefined;
  const m = model!;
  const [h, w, c] = m.inputShape;
  if (c !== null && c !== 3 && c !== 1) throw new Error(`model '${m.name}' takes ${c}-channel input; the page feeds RGB (3-channel) or grayscale (1-channel) images`);
  const size: [number, number] = [h ?? 224, w ?? 224];
  const resized = kerasLoadImg(c === 1 ? toGrayU8(image!.rgb) : image!.rgb, size);
  const mode = chosenPreprocess ?? defaultPreprocess(modelRequest?.arch, m);
  if (c === 1 && (mode === 'vgg16' || mode === 'squeezenet' || mode === 'torch')) throw new Error(`preprocessing ${mode} needs RGB input; model '${m.name}' takes grayscale`);
  input = engine.keep(cs.tensor(preprocess(resized.data, mode), [1, size[0], size[1], c ?? 3]));
}

function openImage(req: Extract<Request, { op: 'openImage' }>) {
  const { file } = req;
  if (detectImageFormat(file.bytes) === null) {
    throw new Error(`${file.name}: not a PNG or JPEG file; the page reads photos as Keras does (PIL), in these two formats: save it as PNG or JPEG first`);
  }
  const rgb: ImageU8 = decodeImage(file.bytes, file.name);
  const prev = image;
  image = { name: file.name, rgb };
  if (model) {
    try {
      makeInput();
    } catch (e) {
      image = prev;
      if (prev) makeInput();
      throw e;
    }
  }
  return { name: file.name, width: rgb.width, height: rgb.height, rgb: rgb.data };
}

function need(): { m: Model; x: cs.Tensor } {
  if (!model) throw new Error('open a model first');
  if (!input) throw new Error('open an image first');
  return { m: model, x: input };
}

async function predict() {
  const { m, x } = need();
  const out = m.predict(x);
  try {
    if (out.rank !== 2) return { classifier: false, shape: out.shape, predictions: [] };
    await m.assertFinite(await out.data(), x, 'prediction');
    const all = (await decodePredictions(out, Number.MAX_SAFE_INTEGER, names, { logits: !m.outputIsProbability() }))[0];
    return { classifier: true, predictions: all };
  } finally {
    out.dispose();
  }
}

async function activations(req: Extract<Request, { op: 'activations' }>) {
  const { m, x } = need();
  const shape = m.storedShape(req.layer);
  if (shape.length !== 4) throw new Error(`layer '${req.layer}' (${m.layer(req.layer).className}) has output ${formatShape(shape)}; activation pictures need rows x cols x channels`);
  const [a] = await computeActivations(m, x, [req.layer]);
  let grads: Float32Array | undefined;
  let gradInfo: { classIndex: number; score: string; scoreValue: number } | undefined;
  if (req.gradClass !== undefined) {
    // d score / d channel, averaged over the grid: the per-channel weights Grad-CAM uses
    const r = await gradCam(m, x, { layer: req.layer, classIndex: req.gradClass, score: req.score ?? 'prob' });
    grads = r.channelWeights;
    gradInfo = { classIndex: r.classIndex, score: r.score, scoreValue: r.scoreValue };
  }
  return { layer: a.layer, shape: a.shape, values: a.values, channels: a.channels, grads, gradInfo };
}

async function gradcam(req: Extract<Request, { op: 'gradcam' }>) {
  const { m, x } = need();
  const r = await gradCam(m, x, { layer: req.layer, classIndex: req.classIndex, score: req.score });
  return { layer: r.layer, classIndex: r.classIndex, score: r.score, scoreValue: r.scoreValue, heatmap: r.heatmap };
}

/** filterPatterns (src/viz/filters.ts) step by step: the same steps, each one's images shown. */
async function filters(id: number, req: Extract<Request, { op: 'filters' }>) {
  if (!model) throw new Error('open a model first');
  const m = model;
  const layer = m.resolve(req.layer);
  if (!m.convLayers().includes(layer)) throw new Error(`'${req.layer}' is a ${m.layer(layer).className}; filter patterns need convolution layers`);
  const [fixedH, fixedW] = m.inputShape;
  const size = fixedH ?? req.size;
  if ((fixedH !== null && fixedH !== size) || (fixedW !== null && fixedW !== size)) throw new Error(`model '${m.name}' takes ${fixedH}x${fixedW} input`);
  const channels = m.storedShape(layer)[3] as number;
  const bad = req.filters.filter((f) => !(Number.isInteger(f) && f >= 0 && f < channels));
  if (bad.length) throw new Error(`layer '${layer}' has filters 0..${channels - 1}; ${bad.slice(0, 5).join(', ')} out of range`);
  if (req.filters.length === 0) throw new Error('no filters chosen');
  const inChannels = m.inputShape[2] ?? 3;
  const batch = req.filters.length;
  const pick = new Float32Array(batch * channels);
  req.filters.forEach((f, i) => (pick[i * channels + f] = 1));
  const mask = engine.keep(engine.fromValues(pick, [batch, 1, 1, channels]));
  let x = engine.keep(engine.fromValues(initialImages(batch, size, req.init ?? 'noise', req.seed, inChannels), [batch, size, size, inChannels]));
  const losses: number[][] = req.filters.map(() => []);
  const rows = Math.min(8, batch);
  const cols = Math.ceil(batch / rows);
  const gridOf = async (t: cs.Tensor) => {
    const all = await t.data();
    const per = size * size * inChannels;
    const imgs = req.filters.map((_, i) => {
      const img = deprocessImage(all.slice(i * per, (i + 1) * per));
      return inChannels === 3 ? img : Uint8Array.from({ length: size * size * 3 }, (_, k) => img[Math.floor(k / 3) * inChannels]);
    });
    return patternGrid(imgs, size, rows, cols);
  };
  paused = false;
  cancelled = false;
  let step = 0;
  try {
    for (; step < req.steps; step++) {
      while (paused && !cancelled) await new Promise<void>((r) => (wake = r));
      if (cancelled) break;
      const { value, next } = filterStep(m, layer, x, mask, 1);
      x.dispose();
      x = engine.keep(next);
      try {
        const v = await value.data();
        v.forEach((l, i) => losses[i].push(l));
      } finally {
        value.dispose();
      }
      const grid = await gridOf(x);
      post({ id, event: 'step', step: step + 1, steps: req.steps, losses, grid: { width: grid.width, height: grid.height, data: grid.data }, memory: mem() });
    }
    if (!cancelled) {
      const [finalOut] = m.run(x, [layer]);
      const finalLoss = engine.tidy(() => cs.div(cs.sum(cs.mul(finalOut, mask), [1, 2, 3]), finalOut.shape[1] * finalOut.shape[2]));
      finalOut.dispose();
      try {
        (await finalLoss.data()).forEach((l, i) => losses[i].push(l));
      } finally {
        finalLoss.dispose();
      }
    }
    const grid = await gridOf(x);
    return { layer, filters: req.filters, size, cancelled, steps: step, losses, grid: { width: grid.width, height: grid.height, data: grid.data } };
  } finally {
    mask.dispose();
    x.dispose();
  }
}

/** Copies of what `convscope validate MODEL [IMAGE]` reads: the model's files and the input tensor made from the photo. */
async function validationInput(withPhoto: boolean): Promise<ValidationInput> {
  if (!model || !modelRequest) throw new Error('open a model first');
  if (withPhoto && !input) throw new Error('open a photo first, or choose the seeded random input');
  const files = modelRequest.files.filter((f) => !/\.txt$/i.test(f.name)).map((f) => ({ name: f.name, bytes: f.bytes.slice() }));
  const main = mainFile(files).name;
  const x = withPhoto ? Float32Array.from(await input!.data()) : undefined;
  return { files, main, arch: modelRequest.arch, input: x, inputShape: withPhoto ? input!.shape.slice(1) : undefined, inputName: withPhoto ? image?.name : undefined, engine: backendName };
}

async function handle(id: number, req: Request): Promise<unknown> {
  switch (req.op) {
    case 'init':
      return init(req.backend);
    case 'openModel':
      return openModel(req);
    case 'chooseArch':
      if (!pendingWeights) throw new Error('no weights-only file is waiting for its architecture; open the file again');
      return openModel({ ...pendingWeights, arch: req.arch });
    case 'validationInput':
      return validationInput(req.withPhoto);
    case 'openImage':
      return openImage(req);
    case 'predict':
      return predict();
    case 'activations':
      return activations(req);
    case 'gradcam':
      return gradcam(req);
    case 'filters':
      return filters(id, req);
    case 'memory':
      return mem();
    case 'setPreprocess': {
      if (req.mode !== undefined && !PREPROCESS_MODES.includes(req.mode)) throw new Error(`unknown preprocessing '${req.mode}'`);
      const prev = chosenPreprocess;
      chosenPreprocess = req.mode as PreprocessMode | undefined;
      try {
        if (model && image) makeInput();
      } catch (e) {
        chosenPreprocess = prev;
        if (model && image) makeInput();
        throw e;
      }
      return { preprocess: model ? (chosenPreprocess ?? defaultPreprocess(modelRequest?.arch, model)) : req.mode };
    }
    case 'loseDevice': {
      // for the test of device loss: what a GPU reset does to the page
      const b = engine.getBackendInstance('webgpu') as unknown as { device?: GPUDevice } | undefined;
      b?.device?.destroy();
      await new Promise((r) => setTimeout(r, 50));
      return { lost: isLost() };
    }
  }
}

self.onmessage = async (e: MessageEvent<{ id: number; req: Request } | Control>) => {
  const msg = e.data;
  if ('control' in msg) {
    if (msg.control === 'pause') paused = true;
    else if (msg.control === 'resume') paused = false;
    else if (msg.control === 'cancel') cancelled = true;
    wake?.();
    wake = undefined;
    return;
  }
  const { id, req } = msg;
  let recovered = false;
  try {
    if (req.op !== 'init' && req.op !== 'loseDevice' && req.op !== 'memory') recovered = await ensureDevice();
    const result = await handle(id, req);
    post({ id, ok: true, result: recovered ? { ...(result as object), recoveredDevice: true } : result, memory: mem() });
  } catch (err) {
    const lost = isLost();
    const message = err instanceof Error ? err.message : String(err);
    post({ id, ok: false, error: message, deviceLost: lost, memory: mem() });
  }
};
// the JPEG decoder's WebAssembly loaded (image_decode.ts also awaits it on import), then the
// page may send its first request (it waits for this: see main.ts, startWorker)
await initImageDecoders();
post({ listening: true } as unknown as Reply);
