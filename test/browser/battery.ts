/**
 * The browser smoke test's battery (issue 3): one fixed list of computations on the
 * 'webgpu' backend, on deterministic inputs. The browser page (page_entry.ts, bundled
 * with esbuild) and the Node test (browser_smoke.test.ts, Dawn) both import this very
 * module, so both sides run literally the same code and build bit-identical inputs
 * from the engine's seeded generators.
 *
 * Every result comes back as a plain number array (float32 values widened to
 * doubles, so they survive JSON and Playwright's serialisation exactly). The inputs
 * are reported too (kind 'input'): the comparison demands them bit-identical, which
 * proves the two JavaScript engines generated the same data before any GPU work.
 */
import * as cs from '../../src/index.ts';

export interface BatteryEntry {
  name: string;
  /** 'input': generated data; 'output': a computed result. */
  kind: 'input' | 'output';
  /**
   * Whether the values must agree bit for bit between two runs: inputs, and ops that
   * only move or select values (concat, pad, slice, transpose, max, min, maxPool).
   */
  exact: boolean;
  shape: number[];
  values: number[];
}

export interface BatteryReport {
  /** getBackend().describe(): adapter vendor / architecture / device / description [runtime]. */
  adapter: string;
  entries: BatteryEntry[];
  /** Milliseconds per case (dispatch, pipeline compilation on first use, and read-back). */
  timings: Record<string, number>;
}

type Case = { name: string; run: () => cs.Tensor | cs.Tensor[]; exact?: boolean };

/** Deterministic inputs: each tensor has its own seed, so adding a case never shifts another's data. */
function inputs() {
  const n = (shape: number[], seed: number, std = 1) => cs.randomNormal(shape, 0, std, seed);
  const u = (shape: number[], seed: number, lo = -1, hi = 1) => cs.randomUniform(shape, lo, hi, seed);
  return {
    // convolutions: odd sizes so 'same' padding is asymmetric at stride 2
    img: n([2, 9, 9, 3], 101),
    w3: n([3, 3, 3, 8], 102, 0.5),
    img4: n([1, 10, 10, 4], 103),
    wDil: n([3, 3, 4, 6], 104, 0.5),
    dyS2: n([2, 5, 5, 8], 108),
    // the small network conv-relu-maxpool-dense-sigmoid; its conv has the shapes of
    // img and w3, so it reuses that pipeline (each new GEMM geometry is a fresh shader
    // compile, 2-10 s each on lavapipe with a cold cache)
    netX: n([2, 9, 9, 3], 111),
    netW: n([3, 3, 3, 8], 112, 0.5),
    netB: u([8], 113, -0.1, 0.1),
    netD: n([128, 3], 114, 0.2),
    netDb: u([3], 115, -0.1, 0.1),
    netT: u([2, 3], 116, 0, 1),
    // pools, softmax
    pool: n([2, 9, 9, 5], 121),
    logits: n([6, 37], 122, 3),
    logitsLong: n([3, 600], 123, 2), // rows longer than a workgroup
    // matmul: A[33,47] B[47,29], and the same data shapes transposed (the 64x64-tile GEMM)
    a: n([33, 47], 131),
    aT: n([47, 33], 132),
    b: n([47, 29], 133),
    bT: n([29, 47], 134),
    // reductions and shape ops
    r: n([4, 6, 7, 5], 141),
    long: u([3, 1000], 142),
    s1: n([2, 3, 4, 5], 151),
    s2: n([2, 3, 4, 2], 152),
    s3: n([1, 3, 4, 5], 153),
    // elementwise (transcendentals are where drivers differ most)
    e: u([5, 7], 161, -4, 4),
    eRow: u([7], 162, 0.5, 2),
  };
}

function cases(t: ReturnType<typeof inputs>): Case[] {
  const net = (x: cs.Tensor, w: cs.Tensor, b: cs.Tensor, d: cs.Tensor, db: cs.Tensor): cs.Tensor => {
    const h = cs.maxPool(cs.relu(cs.biasAdd(cs.conv2d(x, w, { padding: 'same' }), b)), { poolSize: 2 });
    const y = cs.sigmoid(cs.biasAdd(cs.matmul(cs.flatten(h), d), db));
    return cs.mean(cs.square(cs.sub(y, t.netT)));
  };
  return [
    // ---- convolutions ----
    { name: 'conv2d same stride 1', run: () => cs.conv2d(t.img, t.w3, { padding: 'same' }) },
    { name: 'conv2d same stride 2', run: () => cs.conv2d(t.img, t.w3, { padding: 'same', strides: 2 }) },
    { name: 'conv2d same dilation 2', run: () => cs.conv2d(t.img4, t.wDil, { padding: 'same', dilations: 2 }) },
    {
      name: 'conv2dBackpropInput same stride 2',
      run: () => cs.conv2dBackpropInput(t.dyS2, t.w3, t.img.shape, { padding: 'same', strides: 2 }),
    },
    {
      name: 'conv2dBackpropFilter same stride 2',
      run: () => cs.conv2dBackpropFilter(t.img, t.dyS2, t.w3.shape, { padding: 'same', strides: 2 }),
    },
    // ---- the network's loss and its gradients with respect to every parameter and the input ----
    {
      name: 'net conv-relu-maxpool-dense-sigmoid',
      run: () => {
        const { value, grads } = cs.valueAndGrads(net)(t.netX, t.netW, t.netB, t.netD, t.netDb);
        return [value, ...grads];
      },
    },
    // ---- pools and softmax ----
    { name: 'maxPool 3x3 stride 2 same', exact: true, run: () => cs.maxPool(t.pool, { poolSize: 3, strides: 2, padding: 'same' }) },
    { name: 'avgPool 3x3 stride 2 same', run: () => cs.avgPool(t.pool, { poolSize: 3, strides: 2, padding: 'same' }) },
    { name: 'avgPool 2x2 valid', run: () => cs.avgPool(t.pool, { poolSize: 2 }) },
    { name: 'avgPoolBackward 3x3 stride 2 same', run: () => cs.avgPoolBackward(cs.ones([2, 5, 5, 5]), t.pool.shape, { poolSize: 3, strides: 2, padding: 'same' }) },
    { name: 'softmax [6,37]', run: () => cs.softmax(t.logits) },
    { name: 'softmax [3,600]', run: () => cs.softmax(t.logitsLong) },
    // ---- matmul: A B and Aᵀ Bᵀ here; Aᵀ B and A Bᵀ come from the network's backward pass ----
    { name: 'matmul A B', run: () => cs.matmul(t.a, t.b) },
    { name: 'matmul Aᵀ Bᵀ', run: () => cs.matmul(t.aT, t.bT, true, true) },
    // ---- reductions ----
    { name: 'sum all', run: () => cs.sum(t.r) },
    { name: 'sum axes [1,2]', run: () => cs.sum(t.r, [1, 2]) },
    { name: 'sum axis 3 keepDims', run: () => cs.sum(t.r, 3, true) },
    { name: 'max axis 3', exact: true, run: () => cs.max(t.r, 3) },
    { name: 'min axes [0,2]', exact: true, run: () => cs.min(t.r, [0, 2]) },
    { name: 'mean axis 1', run: () => cs.mean(t.r, 1) },
    { name: 'sum long rows', run: () => cs.sum(t.long, 1) },
    { name: 'globalAvgPool', run: () => cs.globalAvgPool(t.pool) },
    // ---- shape ops ----
    { name: 'concat axis 3', exact: true, run: () => cs.concat([t.s1, t.s2], 3) },
    { name: 'concat axis 0', exact: true, run: () => cs.concat([t.s1, t.s3, t.s1], 0) },
    { name: 'pad', exact: true, run: () => cs.pad(t.s1, [[0, 0], [1, 2], [2, 1], [0, 1]], 0.5) },
    { name: 'slice', exact: true, run: () => cs.slice(t.s1, [0, 1, 1, 1], [2, 2, -1, 3]) },
    { name: 'transpose [0,3,1,2]', exact: true, run: () => cs.transpose(t.s1, [0, 3, 1, 2]) },
    { name: 'transpose(pad(slice)) chain', exact: true, run: () => cs.transpose(cs.pad(cs.slice(t.s1, [1, 0, 1, 0], [1, 3, 2, 4]), [[1, 0], [0, 1], [1, 1], [0, 0]]), [3, 2, 1, 0]) },
    // ---- elementwise, broadcasting ----
    { name: 'sigmoid', run: () => cs.sigmoid(t.e) },
    { name: 'tanh', run: () => cs.tanh(t.e) },
    { name: 'exp', run: () => cs.exp(t.e) },
    { name: 'log(|x|+0.1)', run: () => cs.log(cs.add(cs.abs(t.e), 0.1)) },
    { name: 'div broadcast', run: () => cs.div(t.e, t.eRow) },
  ];
}

async function entry(name: string, kind: BatteryEntry['kind'], exact: boolean, x: cs.Tensor): Promise<BatteryEntry> {
  return { name, kind, exact, shape: [...x.shape], values: Array.from(await x.data()) };
}

/**
 * Selects the backend (the page and the Node test use 'webgpu'; the Node test also runs
 * the float32 reference 'cpu' as a sanity anchor) and runs every case; every tensor it
 * made is disposed.
 */
export async function runBattery(backend = 'webgpu'): Promise<BatteryReport> {
  await cs.setBackend(backend);
  const adapter = cs.getBackend().describe();
  const t = inputs();
  const entries: BatteryEntry[] = [];
  const timings: Record<string, number> = {};
  try {
    for (const [name, x] of Object.entries(t)) entries.push(await entry(name, 'input', true, x));
    for (const c of cases(t)) {
      const t0 = performance.now();
      const out = cs.tidy(c.run);
      const outs = Array.isArray(out) ? out : [out];
      try {
        for (let i = 0; i < outs.length; i++) entries.push(await entry(outs.length > 1 ? `${c.name} #${i}` : c.name, 'output', !!c.exact, outs[i]));
      } finally {
        cs.dispose(outs);
      }
      timings[c.name] = Math.round(performance.now() - t0);
    }
  } finally {
    cs.dispose(Object.values(t));
  }
  return { adapter, entries, timings };
}
