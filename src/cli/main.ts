import { parseArgs } from 'node:util';
import { UsageError, useBackend } from './context.ts';
import { OutputError } from './output_dir.ts';
import type { CommandResult, CommonFlags } from './commands/common.ts';

/**
 * The convscope command line. Every command takes --json (one JSON document on
 * stdout, documented in docs/json.md), --backend, --out, --seed and --help.
 */
interface CommandDef {
  usage: string;
  about: string;
  positionals: string[];
  options: Record<string, { type: 'string' | 'boolean'; default?: string | boolean; help: string }>;
  run: (pos: string[], flags: Record<string, unknown>) => Promise<CommandResult>;
  /** False for commands that compute nothing (summary): no GPU device is started. */
  needsDevice?: boolean;
}

const COMMON: CommandDef['options'] = {
  json: { type: 'boolean', default: false, help: 'print one JSON document on stdout (see docs/json.md)' },
  backend: { type: 'string', default: 'webgpu', help: 'webgpu (default) or cpu (the plain TypeScript reference)' },
  out: { type: 'string', default: 'convscope-out', help: 'output folder (files appear only if the run succeeds)' },
  seed: { type: 'string', default: '0', help: 'seed of random starts' },
  arch: { type: 'string', help: 'for weights-only files: vgg16, vgg16-notop, squeezenet-notop, or a Keras JSON config file' },
  until: { type: 'string', help: 'cut the model after this layer (it becomes the output; later layers are not read)' },
  output: { type: 'string', help: 'for a model with several outputs: the one to use (default: the first)' },
  'no-tune': { type: 'boolean', default: false, help: 'no first-use tile tuning on an adapter without a table (docs/kernels.md, "First-use tuning"; cache: $CONVSCOPE_CACHE_DIR/tuning, default ~/.cache/convscope)' },
  help: { type: 'boolean', default: false, help: 'show this help' },
};

const PREPROCESS_HELP =
  'none, rescale (1/255), vgg16, squeezenet (Caffe BGR means), tf (x/127.5 - 1: MobileNet, Teachable Machine) or torch (ImageNet mean/std); ' +
  'default: the architecture\'s, none when the model starts with Rescaling or Normalization, else rescale';
const LABELS_HELP = "class names: one per line (Teachable Machine's labels.txt works), WordNet ids one per line, or a JSON list or class index";

const num = (v: unknown, name: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number; got '${v}'`);
  return n;
};

const common = (f: Record<string, unknown>): CommonFlags => ({
  json: f.json as boolean,
  backend: f.backend as string,
  out: f.out as string,
  arch: f.arch as string | undefined,
  until: f.until as string | undefined,
  output: f.output as string | undefined,
  seed: num(f.seed, 'seed'),
  tune: !f['no-tune'],
});

const COMMANDS: Record<string, CommandDef> = {
  summary: {
    usage: 'convscope summary MODEL [--arch ARCH] [--expand]',
    about: "Prints the model's layers, output shapes and parameter counts, as Keras's model.summary(); a bare config (Keras JSON, or a TF.js model.json) is enough.",
    positionals: ['MODEL'],
    options: { expand: { type: 'boolean', default: false, help: 'list the layers of nested models instead of one row per nested model' } },
    needsDevice: false,
    run: async ([m], f) => (await import('./commands/summary.ts')).summaryCommand(m, { ...common(f), expand: f.expand as boolean }),
  },
  predict: {
    usage: 'convscope predict MODEL IMAGE [--top K] [--preprocess P] [--labels FILE]',
    about: 'Top-K predictions (ImageNet names for a 1000-class output).',
    positionals: ['MODEL', 'IMAGE'],
    options: {
      top: { type: 'string', default: '3', help: 'how many classes to list' },
      preprocess: { type: 'string', help: PREPROCESS_HELP },
      labels: { type: 'string', help: LABELS_HELP },
    },
    run: async ([m, i], f) => (await import('./commands/predict.ts')).predictCommand(m, i, { ...common(f), top: num(f.top, 'top'), preprocess: f.preprocess as string | undefined, labels: f.labels as string | undefined }),
  },
  activations: {
    usage: 'convscope activations MODEL IMAGE [--layers L1,L2] [--out DIR]',
    about: "Every chosen layer's output for the image, one channel grid PNG per layer (default: every conv and pooling layer).",
    positionals: ['MODEL', 'IMAGE'],
    options: {
      layers: { type: 'string', help: 'comma-separated layer names or nested paths (model_1/conv_pw_13_relu)' },
      preprocess: { type: 'string', help: PREPROCESS_HELP },
    },
    run: async ([m, i], f) => (await import('./commands/activations.ts')).activationsCommand(m, i, { ...common(f), layers: f.layers as string | undefined, preprocess: f.preprocess as string | undefined }),
  },
  filters: {
    usage: 'convscope filters MODEL [--layers L1,L2] [--filters 0-63] [--size 64] [--steps 40] [--init noise|gray] [--seed N] [--out DIR]',
    about: 'The input pattern each filter responds to most, by gradient ascent in input space; an 8-row grid per layer.',
    positionals: ['MODEL'],
    options: {
      layers: { type: 'string', help: 'comma-separated conv layer names (default: the first conv of each block)' },
      filters: { type: 'string', default: '0-63', help: 'filter indices, e.g. 0-63 or 0,4,9-11' },
      size: { type: 'string', help: "pattern size in pixels (default: the model's input size if fixed, else 64; the book: 150 for one, 64 in grids)" },
      steps: { type: 'string', default: '40', help: 'gradient ascent steps' },
      init: { type: 'string', default: 'noise', help: "noise (the book's start) or gray (a constant 128 image)" },
      batch: { type: 'string', help: 'filters per GPU batch (default: all of them at once)' },
    },
    run: async ([m], f) =>
      (await import('./commands/filters.ts')).filtersCommand(m, {
        ...common(f),
        layers: f.layers as string | undefined,
        filters: f.filters as string,
        size: f.size === undefined ? undefined : num(f.size, 'size'),
        steps: num(f.steps, 'steps'),
        init: f.init as string,
        batch: f.batch === undefined ? undefined : num(f.batch, 'batch'),
      }),
  },
  gradcam: {
    usage: 'convscope gradcam MODEL IMAGE [--layer L] [--class N|NAME] [--score prob|logit] [--labels FILE] [--out DIR]',
    about: 'Grad-CAM heatmap of a class over the image (default: the top class at the last layer with a spatial output).',
    positionals: ['MODEL', 'IMAGE'],
    options: {
      layer: { type: 'string', help: 'layer by name or nested path (default: the last layer with a spatial output)' },
      class: { type: 'string', help: 'class index, or a name from --labels, or an ImageNet name or wordnet id (default: the top class)' },
      score: { type: 'string', default: 'prob', help: 'prob (post-softmax, as the book) or logit (pre-softmax, as the Grad-CAM paper)' },
      top: { type: 'string', default: '3', help: 'predictions to list' },
      preprocess: { type: 'string', help: PREPROCESS_HELP },
      labels: { type: 'string', help: LABELS_HELP },
      method: { type: 'string', help: 'gradcam (default) or another method of explain: gradcam++, xgradcam, layercam, hirescam, eigencam, scorecam, ablationcam, saliency, ...' },
    },
    run: async ([m, i], f) =>
      (await import('./commands/gradcam.ts')).gradcamCommand(m, i, {
        ...common(f),
        method: f.method as string | undefined,
        layer: f.layer as string | undefined,
        class: f.class as string | undefined,
        score: f.score as string,
        top: num(f.top, 'top'),
        preprocess: f.preprocess as string | undefined,
        labels: f.labels as string | undefined,
      }),
  },
  explain: {
    usage: 'convscope explain MODEL IMAGE [--methods M1,M2,...] [--class C] [--layer L] [--score prob|logit] [--metrics deletion,insertion,drop,road|none] [--batch N] [--out DIR]',
    about: 'Attribution maps side by side (CAMs, gradients, SmoothGrad, Integrated Gradients, guided backprop) for one class, each scored by deletion/insertion curves, in one HTML report.',
    positionals: ['MODEL', 'IMAGE'],
    options: {
      methods: { type: 'string', help: 'comma-separated: gradcam, gradcam++, xgradcam, layercam, hirescam, eigencam, scorecam, ablationcam, saliency, gradxinput, smoothgrad, ig, guided, guided-gradcam (default: every one-pass method)' },
      class: { type: 'string', help: 'class index, or a name from --labels, or an ImageNet name or wordnet id (default: the top class)' },
      layer: { type: 'string', help: "the CAMs' layer by name or nested path (default: the last layer with a spatial output)" },
      score: { type: 'string', default: 'prob', help: 'prob (post-softmax) or logit (pre-softmax)' },
      metrics: { type: 'string', default: 'deletion,insertion,drop', help: 'faithfulness scores: deletion, insertion, drop (average drop / increase in confidence), road, or none' },
      batch: { type: 'string', help: `images per GPU batch for scorecam, ablationcam, smoothgrad, ig and the curves (default ${64})` },
      samples: { type: 'string', help: 'SmoothGrad: noisy copies n (default 50)' },
      noise: { type: 'string', help: 'SmoothGrad: noise standard deviation as a fraction of the input range (default 0.15)' },
      steps: { type: 'string', help: 'Integrated Gradients: Riemann steps m (default 64)' },
      baseline: { type: 'string', default: 'black', help: 'Integrated Gradients: black, blurred or uniform' },
      'curve-steps': { type: 'string', help: 'deletion/insertion: steps of the curves (default 20)' },
      replace: { type: 'string', help: 'deletion/insertion: replace pixels by blur or black (default: black for deletion, blur for insertion, as RISE)' },
      top: { type: 'string', default: '3', help: 'predictions to list' },
      preprocess: { type: 'string', help: PREPROCESS_HELP },
      labels: { type: 'string', help: LABELS_HELP },
    },
    run: async ([m, i], f) => {
      const opt = (k: string) => (f[k] === undefined ? undefined : num(f[k], k));
      return (await import('./commands/explain.ts')).explainCommand(m, i, {
        ...common(f),
        methods: f.methods as string | undefined,
        class: f.class as string | undefined,
        layer: f.layer as string | undefined,
        score: f.score as string,
        metrics: f.metrics as string,
        batch: opt('batch'),
        samples: opt('samples'),
        noise: opt('noise'),
        steps: opt('steps'),
        baseline: f.baseline as string,
        curveSteps: opt('curve-steps'),
        replace: f.replace as string | undefined,
        top: num(f.top, 'top'),
        preprocess: f.preprocess as string | undefined,
        labels: f.labels as string | undefined,
      });
    },
  },
  validate: {
    usage: 'convscope validate MODEL [IMAGE] [--layers L1,L2] [--steps N] [--reference tfjs-wasm|tfjs-cpu|tfjs-webgpu] [--json]',
    about:
      "Every layer's output, the input gradient, the Grad-CAM layer's gradient and map, and the first steps of a filter-pattern ascent against TensorFlow.js built from the same file; one row each with its error and tolerance. Exit 1 if any row fails (naming the first layer that differs), 3 if some could not be compared.",
    positionals: ['MODEL', '[IMAGE]'],
    options: {
      layers: { type: 'string', help: 'only these layers\' rows (comma-separated names or nested paths; the gradients still cover the whole model)' },
      steps: { type: 'string', default: '40', help: 'filter-pattern ascent steps to compare (0: none)' },
      reference: { type: 'string', default: 'tfjs-wasm', help: 'tfjs-wasm, tfjs-cpu (plain JavaScript, slower) or tfjs-webgpu (refused for now in Node: no OffscreenCanvas for its synchronous reads)' },
      layer: { type: 'string', help: 'the Grad-CAM layer (default: the last layer with a spatial output)' },
      'filter-layer': { type: 'string', help: 'the ascent\'s layer (default: the last convolution); its filter 0' },
      size: { type: 'string', help: "the ascent's pattern size (default: the model's input size, else 64)" },
      preprocess: { type: 'string', help: PREPROCESS_HELP },
    },
    run: async ([m, i], f) =>
      (await import('./commands/validate.ts')).validateCommand(m, i, {
        ...common(f),
        layers: f.layers as string | undefined,
        steps: num(f.steps, 'steps'),
        reference: f.reference as string,
        layer: f.layer as string | undefined,
        filterLayer: f['filter-layer'] as string | undefined,
        size: f.size === undefined ? undefined : num(f.size, 'size'),
        preprocess: f.preprocess as string | undefined,
      }),
  },
  demo: {
    usage: 'convscope demo [--out DIR]',
    about: 'All three pictures on bundled real files (trained cats-vs-dogs convnet, ImageNet SqueezeNet, ImageNet Tiny Darknet) in one HTML report.',
    positionals: [],
    options: {
      filters: { type: 'string', default: '0-15', help: 'SqueezeNet filters per layer' },
      size: { type: 'string', default: '64', help: 'pattern size' },
      steps: { type: 'string', default: '40', help: 'gradient ascent steps' },
    },
    run: async (_p, f) => (await import('./commands/demo.ts')).demoCommand({ ...common(f), filters: f.filters as string, size: num(f.size, 'size'), steps: num(f.steps, 'steps') }),
  },
  serve: {
    usage: 'convscope serve [--port N] [--rebuild]',
    about: 'Serves the web page (activations, filter patterns and Grad-CAM of your own model, in the browser on WebGPU) on 127.0.0.1 and prints its URL; builds it first if web/dist is missing.',
    positionals: [],
    options: {
      port: { type: 'string', default: '8080', help: 'port on 127.0.0.1 (0: any free port)' },
      rebuild: { type: 'boolean', default: false, help: 'build the page again even if web/dist exists' },
    },
    needsDevice: false,
    run: async (_p, f) => (await import('./commands/serve.ts')).serveCommand({ port: num(f.port, 'port'), rebuild: f.rebuild as boolean, json: f.json as boolean }),
  },
};

function help(name?: string): string {
  if (name && COMMANDS[name]) {
    const c = COMMANDS[name];
    const opts = { ...c.options, ...COMMON };
    return [
      `usage: ${c.usage}`,
      '',
      c.about,
      '',
      'options:',
      ...Object.entries(opts).map(([k, o]) => `  --${k.padEnd(12)} ${o.help}${o.default !== undefined && o.type === 'string' ? ` (default ${o.default})` : ''}`),
    ].join('\n');
  }
  return [
    'convscope: see inside a convnet (activations, filter patterns, Grad-CAM) on a WebGPU tensor engine',
    '',
    'commands:',
    ...Object.values(COMMANDS).map((c) => `  ${c.usage}\n      ${c.about}`),
    '',
    '  convscope bench [--only REGEX] [--full] [--reps N]\n      Kernel and end-to-end benchmark against TensorFlow.js (same as npm run bench).',
    '',
    'MODEL is a Keras .h5/.hdf5 (any Keras version), a Keras 3 .keras archive, a TensorFlow.js model.json (shards beside it),',
    'or a weights-only .h5 / Keras 3 .weights.h5 with --arch. `convscope COMMAND --help` for details.',
  ].join('\n');
}

/** `convscope bench ...` is `npm run bench -- ...`: the benchmark runs bundled (see scripts/bench.mjs). */
async function bench(args: string[]): Promise<number> {
  const { spawnSync } = await import('node:child_process');
  const script = new URL('../../scripts/bench.mjs', import.meta.url).pathname;
  return spawnSync(process.execPath, [script, ...args], { stdio: 'inherit' }).status ?? 1;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === 'bench') return bench(rest);
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help(rest[0]));
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`convscope: unknown command '${name}'. Commands: ${Object.keys(COMMANDS).join(', ')}`);
    return 2;
  }
  let json = rest.includes('--json');
  try {
    const options = Object.fromEntries(Object.entries({ ...cmd.options, ...COMMON }).map(([k, o]) => [k, { type: o.type, default: o.default }])) as NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
    } catch (e) {
      throw new UsageError(`${(e as Error).message.replace(/\. To specify.*$/, '')}\n${help(name)}`);
    }
    const flags = parsed.values as Record<string, unknown>;
    json = flags.json as boolean;
    if (flags.help) {
      console.log(help(name));
      return 0;
    }
    // a positional written [LIKE_THIS] may be left out
    const required = cmd.positionals.filter((p) => !p.startsWith('[')).length;
    if (parsed.positionals.length < required || parsed.positionals.length > cmd.positionals.length) {
      throw new UsageError(`expected ${cmd.positionals.join(' ') || 'no arguments'}, got ${parsed.positionals.length ? parsed.positionals.join(' ') : 'nothing'}\nusage: ${cmd.usage}`);
    }
    if (flags['no-tune']) (await import('../engine/prepare.ts')).setAutoTune(false);
    // a command that computes nothing (summary) starts no GPU device
    const adapter = cmd.needsDevice === false ? 'none' : await useBackend(flags.backend as string);
    const result = await cmd.run(parsed.positionals, flags);
    if (json) process.stdout.write(`${JSON.stringify({ ...result.json, backend: adapter }, null, 2)}\n`);
    else console.log(result.text.join('\n'));
    return result.exitCode ?? 0;
  } catch (e) {
    // one line, whatever the file held: line breaks and other control characters from a
    // damaged name or JSON excerpt are shown escaped
    const msg = (e as Error).message.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
    if (json) process.stdout.write(`${JSON.stringify({ command: name, error: msg })}\n`);
    console.error(`convscope ${name}: ${msg}`);
    if (process.env.CONVSCOPE_DEBUG) console.error((e as Error).stack);
    return e instanceof UsageError || e instanceof OutputError ? 2 : 1;
  }
}
