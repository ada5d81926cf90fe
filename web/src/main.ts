/**
 * The convscope web page: open a model and a photo, then the three pictures. The engine runs
 * in a Web Worker (worker.ts); this file only draws. Numbers tests read are in data-
 * attributes: #predictions[data-values], .tile[data-mean][data-std][data-grad],
 * #act-grid[data-stats], #g-overlay[data-argmax][data-values], #f-grid[data-losses],
 * #live-bytes[data-live-bytes], #error[data-file].
 */
import type { FileBytes, LayerRow, Memory, ModelInfo, NeedsArch, PredictionRow, Reply, Request, StepEvent, ValidateEvent, ValidateRequest, ValidationInput } from './protocol.ts';
import { applyColormap, getColormap, VIRIDIS, type Colormap } from '../../src/viz/colormap.ts';
import { heatmapToUint8, postprocessChannel, renderActivationChannel } from '../../src/viz/grid.ts';
import { resizeBilinear } from '../../src/viz/resize.ts';
import type { ImageU8 } from '../../src/viz/image.ts';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

/** The bundled demo files (vite.config.ts copies them into demo/). */
const DEMO_MODELS = [
  { label: 'cats vs dogs convnet (50x50, trained)', files: ['cats_and_dogs_small_1.h5'], binaryNames: ['cat', 'dog'] as [string, string] },
  { label: 'SqueezeNet v1.1 base (ImageNet, filter patterns)', files: ['squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5'], arch: 'squeezenet-notop' },
  { label: 'Tiny Darknet (ImageNet classifier, TF.js)', dir: 'tiny_darknet/', files: ['model.json', ...Array.from({ length: 31 }, (_, i) => `group${i + 1}-shard1of1`)], labels: 'tiny_darknet/class_order_wnids.txt' },
];
const DEMO_IMAGES = ['chelsea_cat.png', 'dog_on_beach.jpg', 'creative_commons_elephant.jpg'];

// ---------------------------------------------------------------------------
// the worker

let worker: Worker;
let nextId = 1;
const pending = new Map<number, { resolve: (r: Reply) => void; onStep?: (e: StepEvent) => void }>();
let busy = false;

/**
 * Resolves when the worker's module has run and listens: a message posted before that may be
 * lost (its imports finish loading WebAssembly with a top-level await), so requests wait.
 */
let workerUp: Promise<void>;

function startWorker() {
  worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  let up: () => void;
  workerUp = new Promise<void>((r) => (up = r));
  worker.onmessage = (e: MessageEvent<Reply | StepEvent | { listening: true }>) => {
    const m = e.data;
    if ('listening' in m) return up();
    const p = pending.get(m.id);
    if (!p) return;
    if ('event' in m) {
      showMemory(m.memory);
      p.onStep?.(m);
      return;
    }
    pending.delete(m.id);
    if (m.memory) showMemory(m.memory);
    p.resolve(m);
  };
  worker.onerror = (e) => showError(`the engine stopped: ${e.message}`);
}

function call<T>(req: Request, transfer: Transferable[] = [], onStep?: (e: StepEvent) => void): Promise<T> {
  const id = nextId++;
  return new Promise<Reply>((resolve) => {
    pending.set(id, { resolve, onStep });
    void workerUp.then(() => worker.postMessage({ id, req }, transfer));
  }).then((r) => {
    if (!r.ok) {
      if (r.deviceLost) {
        showNotice('The GPU device was lost (a GPU reset or a driver problem). The next action gets a new device and reloads the model.');
      }
      throw new Error(r.error);
    }
    const res = r.result as T & { recoveredDevice?: boolean };
    if (res && res.recoveredDevice) showNotice('A new GPU device was started after the loss, and the model was loaded again.');
    return res;
  });
}

/** One action at a time; errors go to the message box with the file's name where there is one. */
let running: Promise<unknown> = Promise.resolve();

async function action<T>(what: string, fn: () => Promise<T>, file?: string): Promise<T | undefined> {
  if (busy && document.body.dataset.busy === 'filters' && (what === 'model' || what === 'image')) {
    // a new model or photo mid-run: the run is cancelled (its GPU memory freed) first
    worker.postMessage({ control: 'cancel' });
    await running;
  }
  if (busy) {
    showError('still busy with the previous action; wait for it or cancel it');
    return undefined;
  }
  busy = true;
  document.body.dataset.busy = what;
  const run = (async () => {
    try {
      clearError();
      return await fn();
    } catch (e) {
      showError((e as Error).message, file);
      return undefined;
    } finally {
      busy = false;
      delete document.body.dataset.busy;
      document.body.dataset.done = String(Number(document.body.dataset.done ?? 0) + 1);
    }
  })();
  running = run;
  return run;
}

function showMemory(m: Memory) {
  const el = $('live-bytes');
  el.dataset.liveBytes = String(m.liveBytes);
  el.dataset.tensors = String(m.numTensors);
  el.textContent = `${(m.liveBytes / 1048576).toFixed(2)} MiB in ${m.numTensors} tensors`;
}

function showError(msg: string, file?: string) {
  const el = $('error');
  el.hidden = false;
  el.textContent = file && !msg.includes(file) ? `${file}: ${msg}` : msg;
  el.dataset.file = file ?? '';
}
function clearError() {
  const el = $('error');
  el.hidden = true;
  el.textContent = '';
}
function showNotice(msg: string) {
  const el = $('notice');
  el.hidden = false;
  el.textContent = msg;
}

// ---------------------------------------------------------------------------
// state

let info: ModelInfo | undefined;
let photo: ImageU8 | undefined;
let predictions: PredictionRow[] = [];

// ---------------------------------------------------------------------------
// opening files

const readFile = async (f: File): Promise<FileBytes> => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) });

/** The built-in architectures in words (the names are the CLI's --arch values). */
const ARCH_WORDS: Record<string, string> = {
  vgg16: 'VGG16 with its ImageNet classifier (224x224)',
  'vgg16-notop': 'VGG16 convolutional base, no top (include_top=False)',
  'squeezenet-notop': 'SqueezeNet v1.1 convolutional base, no top',
};

function showModel(m: ModelInfo) {
  info = m;
  $('arch-box').hidden = true;
  $('model-status').textContent = `${m.file}: ${m.name}, input ${m.inputShape.map((d) => d ?? 'any').join('x')}, ${m.layers.length} layers`;
  $('model-status').dataset.model = m.name;
  $('summary').textContent = m.summary;
  $('preprocess-now').textContent = `in use: ${m.preprocess}`;
  fillLayerPickers();
  clearValidation();
}

/** A weights-only file: the architecture picker instead of an error. */
function askArch(n: NeedsArch['needsArch']) {
  const box = $('arch-box');
  box.hidden = false;
  box.dataset.file = n.file;
  $('arch-message').textContent = n.message;
  const s = $<HTMLSelectElement>('arch');
  s.replaceChildren(option('', 'choose the architecture...'), ...n.architectures.map((a) => option(a, `${a}: ${ARCH_WORDS[a] ?? a}`)), option('json', 'a Keras JSON config file (model.to_json())...'));
  $('arch-json').hidden = true;
  $('model-status').textContent = info ? `${n.file}: waiting for its architecture (${info.file} is still loaded)` : `${n.file}: waiting for its architecture`;
}

async function openModelFiles(files: FileBytes[], extra: { arch?: string; binaryNames?: [string, string]; labels?: FileBytes } = {}) {
  const name = files.find((f) => /\.(json|h5|hdf5|keras)$/i.test(f.name))?.name ?? files[0]?.name;
  await action(
    'model',
    async () => {
      $('model-status').textContent = `reading ${name}...`;
      try {
        const m = await call<ModelInfo | NeedsArch>({ op: 'openModel', files, ...extra }, files.map((f) => f.bytes.buffer));
        if ('needsArch' in m) return askArch(m.needsArch);
        showModel(m);
        await refresh();
      } catch (e) {
        $('model-status').textContent = info ? `${info.file}: ${info.name} (still loaded)` : 'no model yet';
        throw e;
      }
    },
    name,
  );
}

/** The weights-only file the worker kept, with the architecture chosen in the picker. */
async function openWithArch(arch: string) {
  const file = $('arch-box').dataset.file;
  await action(
    'model',
    async () => {
      $('model-status').textContent = `reading ${file} as ${arch.startsWith('{') ? 'the given Keras config' : arch}...`;
      try {
        const m = await call<ModelInfo | NeedsArch>({ op: 'chooseArch', arch });
        if ('needsArch' in m) return askArch(m.needsArch);
        showModel(m);
        await refresh();
      } catch (e) {
        $('model-status').textContent = `${file}: waiting for its architecture${info ? ` (${info.file} is still loaded)` : ''}`;
        throw e;
      }
    },
    file,
  );
}

/** Opens a photo: the worker decodes it with the library, as the CLI reads it (PNG and JPEG, PIL's pixels). */
async function openImageFile(file: FileBytes) {
  if (cameraStream) closeCamera();
  await action(
    'image',
    async () => {
      const r = await call<{ name: string; width: number; height: number; rgb: Uint8Array }>({ op: 'openImage', file }, [file.bytes.buffer]);
      photo = { width: r.width, height: r.height, channels: 3, data: r.rgb };
      $('image-status').textContent = `${r.name}: ${r.width}x${r.height}`;
      $('image-status').dataset.image = r.name;
      drawImage($('photo') as HTMLCanvasElement, photo);
      await refresh();
    },
    file.name,
  );
}

// ---------------------------------------------------------------------------
// the camera: a live preview first, the photo when the user clicks "take the photo"

let cameraStream: MediaStream | undefined;
/** Counts camera openings and closings: a camera granted after its "close" was clicked is stopped at once. */
let cameraTurn = 0;

/** The camera's errors in words: what happened and what the user can do. */
function cameraProblem(e: unknown): string {
  const name = (e as { name?: string }).name ?? '';
  const msg = (e as Error).message ?? String(e);
  if (name === 'NotAllowedError' || name === 'SecurityError') return 'the camera: the browser refused it (permission denied); allow the camera for this page (the icon in the address bar) and click "use the camera" again';
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return 'the camera: the browser found no camera on this computer; choose a photo file instead';
  if (name === 'NotReadableError' || name === 'AbortError') return `the camera: it could not be started (another program may be using it): ${msg}`;
  return `the camera: ${name ? `${name}: ` : ''}${msg}`;
}

/** Asks for the camera and shows its live picture; the photo is taken by the "take the photo" button. */
async function openCamera() {
  if (cameraStream) return;
  if (!navigator.mediaDevices?.getUserMedia) {
    return showError(`the camera: this browser offers no camera to this page (browsers give cameras only to pages served over https or from localhost; this one is ${location.origin})`);
  }
  const v = $<HTMLVideoElement>('camera-video');
  const take = $<HTMLButtonElement>('camera-take');
  $<HTMLButtonElement>('camera').disabled = true;
  take.disabled = true;
  $('camera-status').textContent = 'asking for the camera...';
  $('camera-box').hidden = false;
  const turn = ++cameraTurn;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    if (turn !== cameraTurn) return stream.getTracks().forEach((t) => t.stop());
    cameraStream = stream;
    const track = stream.getVideoTracks()[0];
    if (track) {
      track.onended = () => {
        if (cameraStream !== stream) return;
        closeCamera();
        showError('the camera: it stopped (unplugged, or taken by another program)');
      };
    }
    v.srcObject = stream;
    await v.play();
    // play() resolves once a frame is there; the size comes with it
    if (!v.videoWidth) await new Promise((r) => v.addEventListener('loadedmetadata', r, { once: true }));
    if (turn !== cameraTurn) return;
    const s = track?.label;
    $('camera-status').textContent = `${s ? `${s}, ` : ''}${v.videoWidth}x${v.videoHeight}: point it, then take the photo`;
    take.disabled = false;
  } catch (e) {
    if (turn !== cameraTurn) return; // closed meanwhile: play() was interrupted, nothing to report
    closeCamera();
    showError(cameraProblem(e));
  }
}

/** Stops the camera (its light goes off) and hides the preview. */
function closeCamera() {
  cameraTurn++;
  cameraStream?.getTracks().forEach((t) => t.stop());
  cameraStream = undefined;
  const v = $<HTMLVideoElement>('camera-video');
  v.pause();
  v.srcObject = null;
  $('camera-box').hidden = true;
  $('camera-status').textContent = '';
  $<HTMLButtonElement>('camera-take').disabled = true;
  $<HTMLButtonElement>('camera').disabled = false;
}

/** The frame on the preview now, as a PNG (lossless) opened like a photo file; the camera stops. */
async function takePhoto() {
  const v = $<HTMLVideoElement>('camera-video');
  if (!cameraStream || !v.videoWidth) return showError('the camera: it has no picture yet; wait for the preview');
  const c = new OffscreenCanvas(v.videoWidth, v.videoHeight);
  c.getContext('2d')!.drawImage(v, 0, 0, v.videoWidth, v.videoHeight);
  closeCamera();
  const blob = await c.convertToBlob({ type: 'image/png' });
  await openImageFile({ name: 'camera.png', bytes: new Uint8Array(await blob.arrayBuffer()) });
}

async function fetchBytes(path: string): Promise<FileBytes> {
  const r = await fetch(`./demo/${path}`);
  if (!r.ok) throw new Error(`demo/${path}: the server answered ${r.status}`);
  return { name: path.slice(path.lastIndexOf('/') + 1), bytes: new Uint8Array(await r.arrayBuffer()) };
}

/** Predictions for the model and photo just opened. */
async function refresh() {
  if (!info || !photo) return;
  const r = await call<{ classifier: boolean; predictions: PredictionRow[]; shape?: number[] }>({ op: 'predict' });
  predictions = r.predictions;
  $('results').hidden = false;
  const body = $('predictions').querySelector('tbody')!;
  body.replaceChildren();
  const top = predictions.slice(0, 5);
  $('predictions').dataset.values = JSON.stringify(top.map((p) => ({ index: p.index, name: p.name, probability: p.probability })));
  if (!r.classifier) {
    body.innerHTML = `<tr><td>this model has no classifier (its output is [${r.shape?.join(',')}]): filter patterns and activations work; Grad-CAM needs a class score</td></tr>`;
  }
  for (const [i, p] of top.entries()) {
    const tr = document.createElement('tr');
    tr.innerHTML = `<td>${i + 1}.</td><td>${esc(p.name)}</td><td class="p">${p.probability.toFixed(4)}</td><td><span class="bar" style="width:${Math.round(p.probability * 160)}px"></span></td>`;
    body.append(tr);
  }
  fillClassPickers();
  // the first picture at once: the open tab's default layer
  const layer = $<HTMLSelectElement>('act-layer').value;
  if (!$('panel-activations').hidden && layer) {
    act = await call<ActResult>({ op: 'activations', layer });
    drawActivations();
  }
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

// ---------------------------------------------------------------------------
// pickers

function option(value: string, text: string): HTMLOptionElement {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = text;
  return o;
}

function fillLayerPickers() {
  const m = info!;
  const sp = m.layers.filter((l: LayerRow) => l.spatial && l.className !== 'InputLayer');
  const pick = (id: string, rows: LayerRow[], chosen?: string) => {
    const s = $<HTMLSelectElement>(id);
    s.replaceChildren(...rows.map((l) => option(l.name, `${l.name} (${l.className}, ${l.shape.slice(1).map((d) => d ?? 'any').join('x')})`)));
    if (chosen) s.value = chosen;
  };
  pick('act-layer', sp, m.defaultActLayer);
  pick('f-layer', m.layers.filter((l) => l.conv), m.layers.find((l) => l.conv)?.name);
  pick('g-layer', sp, m.defaultCamLayer);
  const fixed = m.inputShape[0];
  const size = $<HTMLInputElement>('f-size');
  size.disabled = fixed !== null;
  if (fixed !== null) size.value = String(fixed);
}

/** The class pickers; `keepChoice` (a search) keeps the chosen class, new predictions start at the top class. */
function fillClassPickers(keepChoice = false) {
  const top = predictions.slice(0, 5);
  const q = $<HTMLInputElement>('g-search').value.trim().toLowerCase();
  const g = $<HTMLSelectElement>('g-class');
  const keep = keepChoice ? g.value : '';
  const opts: HTMLOptionElement[] = [];
  if (!q) for (const p of top) opts.push(option(String(p.index), `${p.name} (${p.probability.toFixed(4)})`));
  const rest = q ? predictions.filter((p) => p.name.toLowerCase().includes(q) || String(p.index) === q) : predictions.slice(5);
  if (rest.length) {
    const grp = document.createElement('optgroup');
    grp.label = q ? 'matches' : 'all classes, most likely first';
    grp.append(...rest.slice(0, 400).map((p) => option(String(p.index), `${p.name} (${p.probability.toFixed(4)})`)));
    opts.push(grp as unknown as HTMLOptionElement);
  }
  g.replaceChildren(...opts);
  if (keep && Array.from(g.options).some((o) => o.value === keep)) g.value = keep;
  const a = $<HTMLSelectElement>('act-class');
  a.replaceChildren(...predictions.slice(0, Math.min(predictions.length, 20)).map((p) => option(String(p.index), `${p.name} (${p.probability.toFixed(4)})`)));
}

// ---------------------------------------------------------------------------
// drawing

function drawImage(c: HTMLCanvasElement, img: ImageU8) {
  c.width = img.width;
  c.height = img.height;
  const ctx = c.getContext('2d')!;
  const d = ctx.createImageData(img.width, img.height);
  const n = img.width * img.height;
  for (let i = 0; i < n; i++) {
    const s = i * img.channels;
    d.data[4 * i] = img.data[s];
    d.data[4 * i + 1] = img.data[s + (img.channels >= 3 ? 1 : 0)];
    d.data[4 * i + 2] = img.data[s + (img.channels >= 3 ? 2 : 0)];
    d.data[4 * i + 3] = 255;
  }
  ctx.putImageData(d, 0, 0);
}

function download(c: HTMLCanvasElement, name: string) {
  c.toBlob((b) => {
    if (!b) return;
    const a = document.createElement('a');
    a.href = URL.createObjectURL(b);
    a.download = name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 5000);
  }, 'image/png');
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]+/g, '_');

// ---------------------------------------------------------------------------
// activations

interface ActResult {
  layer: string;
  shape: number[];
  values: Float32Array;
  channels: { mean: number; std: number }[];
  grads?: Float32Array;
  gradInfo?: { classIndex: number; score: string; scoreValue: number };
}
let act: ActResult | undefined;

/** Set when the picker changes while a layer is being computed: it is computed again after. */
let actAgain = false;

async function runActivations() {
  if (!info || !photo) return showError('open a model and a photo first');
  if (busy && document.body.dataset.busy === 'activations') {
    actAgain = true;
    return;
  }
  const layer = $<HTMLSelectElement>('act-layer').value;
  const withGrad = $<HTMLInputElement>('act-grad').checked && predictions.length > 0;
  await action('activations', async () => {
    act = await call<ActResult>({ op: 'activations', layer, gradClass: withGrad ? Number($<HTMLSelectElement>('act-class').value) : undefined, score: 'prob' });
    drawActivations();
  });
  if (actAgain) {
    actAgain = false;
    await runActivations();
  }
}

function drawActivations() {
  const a = act!;
  const [h, w, c] = a.shape;
  const grid = $('act-grid');
  grid.replaceChildren();
  grid.dataset.layer = a.layer;
  grid.dataset.stats = JSON.stringify(a.channels);
  if (a.grads) grid.dataset.grads = JSON.stringify(Array.from(a.grads));
  else delete grid.dataset.grads;
  const gmax = a.grads ? Math.max(...Array.from(a.grads, Math.abs)) || 1 : 1;
  const tile = new Uint8Array(h * w);
  for (let ch = 0; ch < c; ch++) {
    postprocessChannel(a.values, h, w, c, ch, tile);
    const div = document.createElement('div');
    div.className = 'tile';
    div.dataset.channel = String(ch);
    div.dataset.mean = String(a.channels[ch].mean);
    div.dataset.std = String(a.channels[ch].std);
    div.title = `channel ${ch}: mean ${a.channels[ch].mean.toPrecision(4)}, std ${a.channels[ch].std.toPrecision(4)}`;
    const cv = document.createElement('canvas');
    drawImage(cv, { width: w, height: h, channels: 3, data: applyColormap(tile, VIRIDIS) });
    div.append(cv);
    if (a.grads) {
      const g = a.grads[ch];
      div.dataset.grad = String(g);
      div.title += `, d score / d channel ${g.toPrecision(4)}`;
      const bar = document.createElement('div');
      bar.className = 'gbar';
      const frac = Math.abs(g) / gmax / 2;
      bar.innerHTML = `<span style="left:${g >= 0 ? 50 : 50 - frac * 100}%;width:${frac * 100}%;background:${g >= 0 ? '#d03030' : '#3050d0'}"></span>`;
      div.append(bar);
    }
    const label = document.createElement('div');
    label.textContent = a.grads ? `${ch}: ${a.grads[ch].toExponential(1)}` : String(ch);
    div.append(label);
    div.onclick = () => zoomChannel(ch);
    grid.append(div);
  }
  $('act-zoom').hidden = true;
}

function zoomChannel(ch: number) {
  const a = act!;
  const [h, w, c] = a.shape;
  document.querySelectorAll('.tile.selected').forEach((t) => t.classList.remove('selected'));
  document.querySelector(`.tile[data-channel="${ch}"]`)?.classList.add('selected');
  const cv = $<HTMLCanvasElement>('act-zoom-canvas');
  drawImage(cv, renderActivationChannel(a.values, h, w, c, ch, VIRIDIS));
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < h * w; i++) {
    const v = a.values[i * c + ch];
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  $('act-zoom').hidden = false;
  $('act-zoom').dataset.channel = String(ch);
  $('act-zoom-title').textContent = `${a.layer}, channel ${ch} (${h}x${w}): its own colour scale, ${min.toPrecision(4)} to ${max.toPrecision(4)}`;
  const stops = Array.from({ length: 11 }, (_, i) => {
    const k = Math.round((i / 10) * 255) * 3;
    return `rgb(${VIRIDIS.lut[k]},${VIRIDIS.lut[k + 1]},${VIRIDIS.lut[k + 2]})`;
  });
  $('act-zoom-scale').style.background = `linear-gradient(to right, ${stops.join(',')})`;
  $('act-zoom-scale').title = `${min} .. ${max}`;
  $('act-zoom-range').textContent = `${min.toPrecision(4)} ... ${max.toPrecision(4)}`;
  cv.onmousemove = (e) => {
    const r = cv.getBoundingClientRect();
    const x = Math.min(w - 1, Math.floor(((e.clientX - r.left) / r.width) * w));
    const y = Math.min(h - 1, Math.floor(((e.clientY - r.top) / r.height) * h));
    $('act-zoom-value').textContent = `row ${y}, column ${x}: ${a.values[(y * w + x) * c + ch].toPrecision(6)}`;
  };
}

// ---------------------------------------------------------------------------
// filter patterns

interface FilterResult {
  layer: string;
  filters: number[];
  size: number;
  cancelled: boolean;
  steps: number;
  losses: number[][];
  grid: { width: number; height: number; data: Uint8Array };
}

function parseRange(spec: string): number[] {
  const out = new Set<number>();
  for (const part of spec.split(',')) {
    const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(part);
    if (!m) throw new Error(`filters: cannot read '${part}' (use forms like 0-15 or 1,4,9-11)`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new Error(`filters: range '${part}' goes backwards`);
    if (b - a > 1024) throw new Error('filters: at most 1024 at once');
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

let filtersPaused = false;

async function runFilters() {
  if (!info) return showError('open a model first');
  let filters: number[];
  try {
    filters = parseRange($<HTMLInputElement>('f-range').value);
  } catch (e) {
    return showError((e as Error).message);
  }
  const steps = Number($<HTMLInputElement>('f-steps').value);
  const size = Number($<HTMLInputElement>('f-size').value);
  const seed = Number($<HTMLInputElement>('f-seed').value);
  const init = $<HTMLSelectElement>('f-init').value as 'noise' | 'gray';
  const layer = $<HTMLSelectElement>('f-layer').value;
  const grid = $<HTMLCanvasElement>('f-grid');
  filtersPaused = false;
  $<HTMLButtonElement>('f-pause').disabled = false;
  $<HTMLButtonElement>('f-pause').textContent = 'Pause';
  $<HTMLButtonElement>('f-cancel').disabled = false;
  $<HTMLButtonElement>('f-run').disabled = true;
  grid.dataset.state = 'running';
  grid.dataset.step = '0';
  $('f-progress').textContent = `compiling the shaders for ${layer}...`;
  await action('filters', async () => {
    try {
      const r = await call<FilterResult>({ op: 'filters', layer, filters, steps, size, seed, init }, [], (e) => {
        drawImage(grid, { ...e.grid, channels: 3 });
        fitGrid(grid);
        drawLosses(e.losses, steps);
        grid.dataset.step = String(e.step);
        $('f-progress').textContent = `step ${e.step} of ${e.steps}${filtersPaused ? ' (paused)' : ''}`;
      });
      drawImage(grid, { ...r.grid, channels: 3 });
      fitGrid(grid);
      drawLosses(r.losses, steps);
      grid.dataset.losses = JSON.stringify(r.losses);
      grid.dataset.layer = r.layer;
      grid.dataset.state = r.cancelled ? 'cancelled' : 'done';
      $('f-progress').textContent = r.cancelled ? `cancelled after ${r.steps} steps` : `${r.steps} steps done: ${r.layer}, filters ${$<HTMLInputElement>('f-range').value}, ${r.size}x${r.size}, seed ${seed}`;
      $<HTMLButtonElement>('f-download').disabled = false;
    } catch (e) {
      grid.dataset.state = 'failed';
      throw e;
    } finally {
      $<HTMLButtonElement>('f-pause').disabled = true;
      $<HTMLButtonElement>('f-cancel').disabled = true;
      $<HTMLButtonElement>('f-run').disabled = false;
    }
  });
}

/** The pattern grid at a size that fits the screen: small patterns enlarged, pixels kept sharp. */
function fitGrid(c: HTMLCanvasElement) {
  const scale = Math.min(3, 620 / c.height, 760 / c.width);
  c.style.width = `${Math.round(c.width * scale)}px`;
  c.style.height = `${Math.round(c.height * scale)}px`;
}

function drawLosses(losses: number[][], steps: number) {
  const c = $<HTMLCanvasElement>('f-loss');
  const ctx = c.getContext('2d')!;
  ctx.clearRect(0, 0, c.width, c.height);
  let lo = Infinity;
  let hi = -Infinity;
  for (const l of losses) for (const v of l) if (Number.isFinite(v)) ((lo = Math.min(lo, v)), (hi = Math.max(hi, v)));
  if (!(hi > lo)) ((hi = lo + 1), (lo = lo - 1));
  const pad = 30;
  ctx.strokeStyle = '#999';
  ctx.strokeRect(pad, 5, c.width - pad - 5, c.height - pad - 5);
  ctx.fillStyle = '#444';
  ctx.font = '10px sans-serif';
  ctx.fillText(hi.toPrecision(3), 0, 12);
  ctx.fillText(lo.toPrecision(3), 0, c.height - pad);
  ctx.fillText(`step 0 .. ${steps}`, pad, c.height - 10);
  losses.forEach((l, k) => {
    ctx.strokeStyle = `hsl(${(k * 47) % 360} 70% 45%)`;
    ctx.beginPath();
    l.forEach((v, s) => {
      const x = pad + (s / Math.max(1, steps)) * (c.width - pad - 5);
      const y = 5 + (1 - (v - lo) / (hi - lo)) * (c.height - pad - 10);
      if (s === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  });
}

// ---------------------------------------------------------------------------
// Grad-CAM

interface CamResult {
  layer: string;
  classIndex: number;
  score: string;
  scoreValue: number;
  heatmap: { width: number; height: number; data: Float32Array };
}
let cam: CamResult | undefined;

async function runGradCam() {
  if (!info || !photo) return showError('open a model and a photo first');
  if (!predictions.length) return showError(`model '${info.name}' has no classifier output: Grad-CAM needs a class score`);
  const cls = $<HTMLSelectElement>('g-class').value;
  await action('gradcam', async () => {
    cam = await call<CamResult>({ op: 'gradcam', layer: $<HTMLSelectElement>('g-layer').value || undefined, classIndex: cls === '' ? undefined : Number(cls), score: $<HTMLSelectElement>('g-score').value as 'prob' | 'logit' });
    drawGradCam();
  });
}

/** The book's overlay (src/viz/grid.ts overlayHeatmap) with the page's colormap and opacity. */
function overlay(img: ImageU8, heat: CamResult['heatmap'], map: Colormap, intensity: number): ImageU8 {
  const resized = resizeBilinear(heat.data, heat.height, heat.width, img.height, img.width, 1);
  const colored = applyColormap(heatmapToUint8(resized), map);
  const out = new Uint8Array(img.width * img.height * 3);
  for (let i = 0; i < out.length; i++) {
    const v = colored[i] * intensity + img.data[i];
    out[i] = v >= 255 ? 255 : v <= 0 ? 0 : Math.round(v);
  }
  return { width: img.width, height: img.height, channels: 3, data: out };
}

function drawGradCam() {
  if (!cam || !photo) return;
  const map = getColormap($<HTMLSelectElement>('g-cmap').value as 'jet' | 'viridis');
  const opacity = Number($<HTMLInputElement>('g-opacity').value);
  const ov = $<HTMLCanvasElement>('g-overlay');
  drawImage(ov, overlay(photo, cam.heatmap, map, opacity));
  const { width, height, data } = cam.heatmap;
  drawImage($<HTMLCanvasElement>('g-heatmap'), { width, height, channels: 3, data: applyColormap(heatmapToUint8(data), map) });
  let k = 0;
  for (let i = 1; i < data.length; i++) if (data[i] > data[k]) k = i;
  ov.dataset.argmax = JSON.stringify([Math.floor(k / width), k % width]);
  ov.dataset.values = JSON.stringify(Array.from(data));
  ov.dataset.shape = JSON.stringify([height, width]);
  ov.dataset.classIndex = String(cam.classIndex);
  ov.dataset.scoreValue = String(cam.scoreValue);
  const name = predictions.find((p) => p.index === cam!.classIndex)?.name ?? `class ${cam.classIndex}`;
  $('g-info').textContent = `class ${cam.classIndex} (${name}), ${cam.score === 'prob' ? 'probability' : 'logit'} ${cam.scoreValue.toFixed(4)}, layer ${cam.layer} (${height}x${width} map)`;
  $<HTMLButtonElement>('g-dl-overlay').disabled = false;
  $<HTMLButtonElement>('g-dl-heatmap').disabled = false;
}

// ---------------------------------------------------------------------------
// validate: the model's numbers against TensorFlow.js (validate_worker.ts)

let vworker: Worker | undefined;
let vjson: Record<string, unknown> | undefined;

interface VRow {
  kind: string;
  name: string;
  className?: string;
  shape?: number[];
  maxAbs?: number | string;
  maxRel?: number | string;
  identical?: number;
  measure: 'rel' | 'abs' | 'identical';
  tolerance: number;
  status: 'pass' | 'fail' | 'unsupported';
  note?: string;
}

function clearValidation() {
  $('v-rows').querySelector('tbody')!.replaceChildren();
  delete $('v-rows').dataset.rows;
  const v = $('v-verdict');
  v.textContent = '';
  v.className = '';
  for (const k of ['passed', 'complete', 'firstFailure', 'model']) delete v.dataset[k];
  $('v-notes').textContent = '';
  $<HTMLButtonElement>('v-download').disabled = true;
  vjson = undefined;
}

function validationDone(state: 'done' | 'cancelled' | 'failed') {
  $('v-verdict').dataset.state = state;
  $<HTMLButtonElement>('v-run').disabled = false;
  $<HTMLButtonElement>('v-cancel').disabled = true;
  $('v-progress').hidden = true;
}

async function runValidate() {
  if (!info) return showError('open a model first');
  const withPhoto = $<HTMLSelectElement>('v-input').value === 'photo';
  if (withPhoto && !photo) return showError('open a photo first, or choose the seeded random input');
  const steps = Number($<HTMLInputElement>('v-steps').value);
  const seed = Number($<HTMLInputElement>('v-seed').value);
  if (!(Number.isInteger(steps) && steps >= 0 && steps <= 10_000)) return showError('validate: ascent steps must be a whole number from 0 to 10000');
  if (!Number.isInteger(seed)) return showError('validate: the seed must be a whole number');
  // running from the click on: the button is off while the input is fetched too
  $('v-verdict').dataset.state = 'running';
  $<HTMLButtonElement>('v-run').disabled = true;
  const got = await action('validate-input', () => call<ValidationInput>({ op: 'validationInput', withPhoto }));
  if (!got) return validationDone('failed');
  clearValidation();
  const engine = $<HTMLSelectElement>('v-engine').value === 'cpu' ? 'cpu' : got.engine;
  const f = $<HTMLSelectElement>('v-filter').value;
  const req: ValidateRequest = {
    ...got,
    reference: $<HTMLSelectElement>('v-reference').value as ValidateRequest['reference'],
    engine,
    steps,
    seed,
    filter: f === 'live' ? 'live' : Number(f),
    score: $<HTMLSelectElement>('v-score').value === 'logit' ? 'logit' : 'prob',
  };
  const modelName = info.name;
  $('v-verdict').dataset.state = 'running';
  $<HTMLButtonElement>('v-run').disabled = true;
  $<HTMLButtonElement>('v-cancel').disabled = false;
  const bar = $<HTMLProgressElement>('v-progress');
  bar.hidden = false;
  bar.removeAttribute('value');
  $('v-status').textContent = `starting TensorFlow.js (${req.reference})...`;
  const t0 = performance.now();
  let listening: () => void = () => undefined;
  const up = new Promise<void>((r) => (listening = r));
  if (!vworker) vworker = new Worker(new URL('./validate_worker.ts', import.meta.url), { type: 'module' });
  else listening();
  const w = vworker;
  w.onmessage = (e: MessageEvent<ValidateEvent>) => {
    const m = e.data;
    if (m.event === 'listening') return listening();
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    if (m.event === 'progress') {
      bar.max = m.total;
      bar.value = m.done;
      $('v-status').textContent = `${m.phase}: model pass ${m.done} of about ${m.total} (${secs} s)`;
    } else if (m.event === 'done') {
      vjson = m.json;
      showValidation(m.json, m.text, modelName);
      $('v-status').textContent = `done in ${secs} s: ${String(m.json.model && (m.json.model as { name: string }).name)} on convscope ${m.engine}, TF.js ${req.reference}`;
      validationDone('done');
    } else {
      $('v-status').textContent = `failed after ${secs} s`;
      showError(`validate: ${m.message}`, req.main);
      validationDone('failed');
    }
  };
  w.onerror = (e) => {
    $('v-status').textContent = 'the validation worker stopped';
    showError(`validate: the worker stopped: ${e.message}`, req.main);
    vworker = undefined;
    validationDone('failed');
  };
  await up;
  w.postMessage(req, [...req.files.map((f) => f.bytes.buffer), ...(req.input ? [req.input.buffer] : [])]);
}

/** Ends the validation worker (and all TF.js and convscope memory it held); the next run starts a new one. */
function cancelValidate() {
  if (!vworker) return;
  vworker.terminate();
  vworker = undefined;
  $('v-status').textContent = 'cancelled';
  validationDone('cancelled');
}

const fmtErr = (v: number | string | undefined) => (v === undefined ? '-' : typeof v === 'string' ? v : v.toExponential(2));

function showValidation(j: Record<string, unknown>, text: string[], modelName: string) {
  const rows = j.rows as VRow[];
  const body = $('v-rows').querySelector('tbody')!;
  body.replaceChildren(
    ...rows.map((r) => {
      const tr = document.createElement('tr');
      tr.className = r.status;
      const tol = r.measure === 'identical' ? `identical ${r.identical === undefined ? '-' : (r.identical * 100).toFixed(2) + '%'} >= ${r.tolerance * 100}%` : `${r.measure} <= ${r.tolerance}`;
      const cells = [r.status.toUpperCase(), r.kind, `${r.name}${r.className ? ` (${r.className})` : ''}`, r.shape ? `[${r.shape.join(',')}]` : '', fmtErr(r.maxAbs), fmtErr(r.maxRel), tol, r.note ?? ''];
      // a long note (the ascent's loss per step on both sides) folds: its start, the rest on a click
      const cell = (c: string, i: number) => (i === 7 && c.length > 140 ? `<details><summary>${esc(c.slice(0, 90))}...</summary>${esc(c)}</details>` : esc(c));
      tr.innerHTML = cells.map((c, i) => `<td${i === 4 || i === 5 ? ' class="num"' : ''}>${cell(c, i)}</td>`).join('');
      return tr;
    }),
  );
  $('v-rows').dataset.rows = JSON.stringify(rows);
  const v = $('v-verdict');
  v.dataset.passed = String(j.passed);
  v.dataset.complete = String(j.complete);
  v.dataset.model = modelName;
  if (j.firstFailure) v.dataset.firstFailure = String(j.firstFailure);
  v.className = j.passed ? (j.complete ? 'pass' : 'incomplete') : 'fail';
  v.textContent = text[text.length - 1];
  // the report's header and notes, as the CLI prints them (the rows are the table)
  const notes = [...text.slice(0, 2), ...text.slice(3 + rows.length, -1)];
  if (j.engineNote) notes.push(String(j.engineNote));
  $('v-notes').textContent = notes.join('\n');
  $<HTMLButtonElement>('v-download').disabled = false;
}

function downloadValidation() {
  if (!vjson) return;
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([JSON.stringify(vjson, null, 2) + '\n'], { type: 'application/json' }));
  a.download = `validate_${safe(String((vjson.model as { name?: string })?.name ?? 'model'))}.json`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 5000);
}

// ---------------------------------------------------------------------------
// wiring

function dropzone(id: string, onFiles: (files: File[]) => void) {
  const z = $(id);
  z.addEventListener('dragover', (e) => {
    e.preventDefault();
    z.classList.add('over');
  });
  z.addEventListener('dragleave', () => z.classList.remove('over'));
  z.addEventListener('drop', (e) => {
    e.preventDefault();
    z.classList.remove('over');
    const files = Array.from(e.dataTransfer?.files ?? []);
    if (files.length) onFiles(files);
  });
}

async function modelFromFiles(files: File[]) {
  await openModelFiles(await Promise.all(files.map(readFile)));
}

function wire() {
  $<HTMLInputElement>('model-file').onchange = async (e) => {
    const t = e.target as HTMLInputElement;
    const files = Array.from(t.files ?? []);
    t.value = '';
    if (files.length) await modelFromFiles(files);
  };
  $<HTMLInputElement>('image-file').onchange = async (e) => {
    const t = e.target as HTMLInputElement;
    const f = t.files?.[0];
    t.value = '';
    if (f) await openImageFile(await readFile(f));
  };
  dropzone('model-drop', (files) => void modelFromFiles(files));
  dropzone('image-drop', async (files) => void openImageFile(await readFile(files[0])));
  for (const d of DEMO_MODELS) {
    const b = document.createElement('button');
    b.className = 'demo';
    b.textContent = d.label;
    b.dataset.demo = d.files[0];
    b.onclick = async () => {
      $('model-status').textContent = `downloading ${d.files[0]}...`;
      try {
        const files = await Promise.all(d.files.map((f) => fetchBytes((d.dir ?? '') + f)));
        const labels = d.labels ? await fetchBytes(d.labels) : undefined;
        await openModelFiles(files, { arch: d.arch, binaryNames: d.binaryNames, labels });
      } catch (e) {
        showError((e as Error).message);
      }
    };
    $('demo-models').append(b);
  }
  for (const name of DEMO_IMAGES) {
    const b = document.createElement('button');
    b.className = 'demo';
    b.textContent = name;
    b.dataset.demo = name;
    b.onclick = async () => openImageFile(await fetchBytes(name));
    $('demo-images').append(b);
  }
  $('camera').onclick = () => void openCamera();
  $('camera-take').onclick = () => void takePhoto();
  $('camera-close').onclick = () => closeCamera();
  document.querySelectorAll<HTMLButtonElement>('button.tab').forEach((t) => {
    t.onclick = () => {
      document.querySelectorAll('.tab').forEach((x) => x.classList.toggle('active', x === t));
      for (const p of ['activations', 'filters', 'gradcam', 'validate']) $(`panel-${p}`).hidden = p !== t.dataset.tab;
    };
  });
  $('act-run').onclick = () => void runActivations();
  $('act-layer').onchange = () => void runActivations();
  $('act-grad').onchange = () => void runActivations();
  $('act-class').onchange = () => void runActivations();
  $('f-run').onclick = () => void runFilters();
  $('preprocess').onchange = () =>
    void action('preprocess', async () => {
      const mode = $<HTMLSelectElement>('preprocess').value || undefined;
      const r = await call<{ preprocess: string }>({ op: 'setPreprocess', mode });
      $('preprocess-now').textContent = `in use: ${r.preprocess}`;
      await refresh();
    });
  $('f-pause').onclick = () => {
    filtersPaused = !filtersPaused;
    worker.postMessage({ control: filtersPaused ? 'pause' : 'resume' });
    $('f-pause').textContent = filtersPaused ? 'Resume' : 'Pause';
    $('f-grid').dataset.state = filtersPaused ? 'paused' : 'running';
  };
  $('f-cancel').onclick = () => worker.postMessage({ control: 'cancel' });
  $('f-download').onclick = () => download($<HTMLCanvasElement>('f-grid'), `filters_${safe($('f-grid').dataset.layer ?? 'layer')}.png`);
  $('g-run').onclick = () => void runGradCam();
  $('v-run').onclick = () => void runValidate();
  $('v-cancel').onclick = () => cancelValidate();
  $('v-download').onclick = () => downloadValidation();
  $<HTMLSelectElement>('arch').onchange = () => {
    const v = $<HTMLSelectElement>('arch').value;
    $('arch-json').hidden = v !== 'json';
    if (v && v !== 'json') void openWithArch(v);
  };
  $<HTMLInputElement>('arch-file').onchange = async (e) => {
    const t = e.target as HTMLInputElement;
    const f = t.files?.[0];
    t.value = '';
    if (f) await openWithArch(await f.text());
  };
  $('g-search').oninput = () => fillClassPickers(true);
  $('g-opacity').oninput = () => drawGradCam();
  $('g-cmap').onchange = () => drawGradCam();
  $('g-dl-overlay').onclick = () => download($<HTMLCanvasElement>('g-overlay'), `gradcam_${safe(cam?.layer ?? '')}_class${cam?.classIndex}.png`);
  $('g-dl-heatmap').onclick = () => download($<HTMLCanvasElement>('g-heatmap'), `gradcam_${safe(cam?.layer ?? '')}_class${cam?.classIndex}_heatmap.png`);
  // tests and scripts: lose the device as a GPU reset would
  (window as unknown as { convscopeLoseDevice: () => Promise<unknown> }).convscopeLoseDevice = () => call({ op: 'loseDevice' });
}

async function start() {
  wire();
  startWorker();
  const want = new URLSearchParams(location.search).get('backend') === 'cpu' ? 'cpu' : 'webgpu';
  try {
    const r = await call<{ backend: string; adapter: string; fallback?: string }>({ op: 'init', backend: want });
    const el = $('backend');
    el.dataset.backend = r.backend;
    el.textContent = `engine: ${r.backend} (${r.adapter})`;
    $<HTMLSelectElement>('v-engine').options[0].textContent = `the page's (${r.backend})`;
    if (r.fallback) {
      // the Validate tab's TF.js webgpu reference needs WebGPU too
      const o = $<HTMLSelectElement>('v-reference').querySelector<HTMLOptionElement>('option[value="tfjs-webgpu"]')!;
      o.disabled = true;
      o.textContent = 'webgpu (needs WebGPU: not in this browser)';
      showNotice(
        `WebGPU is not available here (${r.fallback}). It is in Chrome and Edge 113+ on Windows, macOS and ChromeOS, Chrome 121+ on Android, ` +
          'Safari 26+, and Firefox 141+ on Windows. The page now runs on the plain TypeScript backend: it works, but slowly (use the small cats-vs-dogs model).',
      );
    }
    document.body.dataset.ready = 'true';
  } catch (e) {
    showError(`the engine could not start: ${(e as Error).message}`);
  }
}

void start();
