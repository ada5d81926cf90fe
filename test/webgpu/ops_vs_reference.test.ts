import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';
import type { Backend } from '../../src/engine/backend.ts';
import { OP_CASES, type OpCase } from '../helpers/op_cases.ts';
import { rand } from '../helpers/random.ts';
import type { WebGPUBackend } from '../../src/kernels/wgsl/backend.ts';
import { forceTapTiling, tapCandidates, useTuningTable } from '../../src/kernels/wgsl/tuning.ts';
import { denseRows, tapTilingFits } from '../../src/kernels/wgsl/tap_gemm.ts';
import { backendNamed, copyTo, restoreAdapterTable, webgpu } from '../helpers/backends.ts';
import { maxRelDiff } from '../helpers/tfjs.ts';

// WGSL kernels against the float32 reference backend, forward and every gradient.
// Both compute in float32 but sum in different orders (tiles vs loops): the cases
// sum at most a few dozen terms of size ~1, so 1e-5 of (1 + |value|) bounds the difference.
const TOL = 1e-5;

let gpu: Backend;
let cpu: Backend;
beforeAll(async () => {
  cpu = await backendNamed('cpu');
  gpu = await webgpu();
});

async function run(backend: Backend, c: OpCase, inputsOnCpu: cs.Tensor[]) {
  cs.engine.useBackend(backend);
  const xs = await Promise.all(inputsOnCpu.map((t) => copyTo(t, backend)));
  const y = c.f(...xs);
  const r = cs.engine.fromValues(Float32Array.from({ length: y.size }, (_, i) => Math.sin(i + 1)), y.shape, backend);
  const { grads } = cs.valueAndGrads((...a) => cs.sum(cs.mul(c.f(...a), r)))(...xs);
  const out = { y: await y.data(), shape: y.shape, grads: await Promise.all(grads.map((g) => g.data())) };
  cs.dispose([y, r, ...xs, ...grads]);
  return out;
}

describe('WebGPU kernels agree with the reference backend (forward and gradients)', () => {
  for (const c of OP_CASES) {
    it(c.name, async () => {
      cs.engine.useBackend(cpu);
      const inputs = c.inputs().map((t) => t);
      const ref = await run(cpu, c, inputs);
      const got = await run(gpu, c, inputs);
      cs.dispose(inputs);
      expect(got.shape).toEqual(ref.shape);
      expect(maxRelDiff(got.y, ref.y), 'forward').toBeLessThan(TOL);
      got.grads.forEach((g, i) => expect(maxRelDiff(g, ref.grads[i]), `gradient of input ${i}`).toBeLessThan(TOL));
    });
  }
});

// Convolutions and matmuls wide enough to take each path of the tap GEMM (tap_gemm.ts): channel runs
// that are multiples of the subgroup size (the subgroup form on lavapipe) and ones that
// are not (the loop form), rows and columns that do not fill a tile, batch > 1. They
// sum up to 360 products of size ~1, so float32 reordering allows ~360 * 6e-8 ~ 2e-5
// of (1 + |value|) in the worst case; 3e-5 is the bound.
const WIDE_TOL = 3e-5;
const WIDE_CASES: OpCase[] = [
  {
    name: 'conv2d same 3x3, 16 -> 40 channels, batch 2',
    covers: ['conv2d'],
    inputs: () => [rand([2, 7, 5, 16], 201), rand([3, 3, 16, 40], 202)],
    f: (x, w) => cs.conv2d(x, w, { padding: 'same' }),
  },
  {
    name: 'conv2d valid 2x3 stride 2, 24 -> 12 channels',
    covers: ['conv2d'],
    inputs: () => [rand([1, 9, 8, 24], 203), rand([2, 3, 24, 12], 204)],
    f: (x, w) => cs.conv2d(x, w, { strides: 2 }),
  },
  {
    name: 'conv2d same dilation 2, 8 -> 9 channels',
    covers: ['conv2d'],
    inputs: () => [rand([1, 6, 7, 8], 205), rand([3, 3, 8, 9], 206)],
    f: (x, w) => cs.conv2d(x, w, { padding: 'same', dilations: 2 }),
  },
  {
    name: 'conv2dBackpropInput same stride 1, 16 -> 12 channels, batch 2',
    covers: ['conv2dBackpropInput'],
    inputs: () => [rand([2, 6, 5, 16], 207), rand([3, 3, 12, 16], 208)],
    f: (dy, w) => cs.conv2dBackpropInput(dy, w, [2, 6, 5, 12], { padding: 'same' }),
  },
  {
    name: 'fusedConv2d same relu, 16 -> 40 channels, batch 2',
    covers: ['fusedConv2d'],
    inputs: () => [rand([2, 7, 5, 16], 213), rand([3, 3, 16, 40], 214), rand([40], 215)],
    f: (x, w, b) => cs.fusedConv2d(x, w, b, { padding: 'same', activation: 'relu' }),
  },
  {
    name: 'conv2dBackpropInput with a ReLU mask, stride 1, 16 -> 12 channels',
    covers: ['conv2dBackpropInput'],
    inputs: () => [rand([2, 6, 5, 16], 216), rand([3, 3, 12, 16], 217), rand([2, 6, 5, 16], 218, -2, 2, 0.2)],
    f: (dy, w, m) => cs.conv2dBackpropInput(dy, w, [2, 6, 5, 12], { padding: 'same', reluOutput: m }),
  },
  // Dense layers on one image also run on the tap GEMM: a few rows times B, and one row times Bᵀ
  {
    name: 'matmul one row, K = 40',
    covers: ['matmul'],
    inputs: () => [rand([1, 40], 219), rand([40, 37], 220)],
    f: (a, b) => cs.matmul(a, b),
  },
  {
    name: 'matmul 3 rows, K = 24',
    covers: ['matmul'],
    inputs: () => [rand([3, 24], 221), rand([24, 70], 222)],
    f: (a, b) => cs.matmul(a, b),
  },
  {
    name: 'matmul one row times Bᵀ, K = 48',
    covers: ['matmul'],
    inputs: () => [rand([1, 48], 223), rand([29, 48], 224)],
    f: (a, b) => cs.matmul(a, b, false, true),
  },
  {
    name: 'conv2dBackpropInput valid stride 1, 5 -> 6 channels',
    covers: ['conv2dBackpropInput'],
    inputs: () => [rand([1, 5, 4, 5], 209), rand([3, 2, 6, 5], 210)],
    f: (dy, w) => cs.conv2dBackpropInput(dy, w, [1, 7, 5, 6]),
  },
];

/** Runs a wide case on both backends and compares; returns the WebGPU dispatch keys it made. */
async function checkWide(c: OpCase): Promise<string[]> {
  cs.engine.useBackend(cpu);
  const inputs = c.inputs();
  const ref = await run(cpu, c, inputs);
  const keys: string[] = [];
  const dispatch = (gpu as WebGPUBackend).dispatch.bind(gpu);
  (gpu as WebGPUBackend).dispatch = (d) => {
    keys.push(d.key);
    dispatch(d);
  };
  let got;
  try {
    got = await run(gpu, c, inputs);
  } finally {
    (gpu as WebGPUBackend).dispatch = dispatch;
    cs.dispose(inputs);
  }
  expect(maxRelDiff(got.y, ref.y), 'forward').toBeLessThan(WIDE_TOL);
  got.grads.forEach((g, i) => expect(maxRelDiff(g, ref.grads[i]), `gradient of input ${i}`).toBeLessThan(WIDE_TOL));
  return keys;
}

describe('every tap-GEMM path (convolutions, one-image dense layers) agrees with the reference backend', () => {
  // the tap GEMM as the adapter's choice whatever its own table says (the subgroup form where it has subgroups)
  beforeAll(() => {
    const S = (gpu as WebGPUBackend).ctx.subgroupSize;
    useTuningTable({ adapter: 'test', date: '', tilings: {}, tapDefault: S ? { TM: 16, TN: 4, WG: S, subgroup: true } : { TM: 8, TN: 8, WG: 8 } });
  });
  afterAll(() => restoreAdapterTable(gpu as WebGPUBackend));
  for (const c of WIDE_CASES) {
    it(c.name, async () => {
      const keys = await checkWide(c);
      expect(keys.some((k) => k.includes('|tap')), 'a tap-GEMM dispatch').toBe(true);
    });
  }

  it('every tile the tuner may choose computes the same convolution', async () => {
    const S = (gpu as WebGPUBackend).ctx.subgroupSize;
    // (the narrow tiles, for 1-4 columns, cannot run this 40-column product: the tuner skips them)
    const candidates = tapCandidates(S).filter((t) => tapTilingFits({ L: 16, N: 40, rows: { ...denseRows(16), PIX: 16 } }, t, S));
    cs.engine.useBackend(cpu);
    const x = rand([1, 9, 7, 16], 211);
    const w = rand([3, 3, 16, 40], 212);
    const want = await cs.conv2d(x, w, { padding: 'same' }).data();
    cs.engine.useBackend(gpu);
    const [gx, gw] = await Promise.all([copyTo(x, gpu), copyTo(w, gpu)]);
    const keys: string[] = [];
    const dispatch = (gpu as WebGPUBackend).dispatch.bind(gpu);
    (gpu as WebGPUBackend).dispatch = (d) => {
      keys.push(d.key.split('|')[1]);
      dispatch(d);
    };
    try {
      for (const t of candidates) {
        forceTapTiling(t);
        const y = cs.conv2d(gx, gw, { padding: 'same' });
        expect(maxRelDiff(await y.data(), want), JSON.stringify(t)).toBeLessThan(WIDE_TOL);
        y.dispose();
      }
    } finally {
      forceTapTiling(undefined);
      (gpu as WebGPUBackend).dispatch = dispatch;
      cs.dispose([x, w, gx, gw]);
    }
    // each candidate really compiled its own kernel
    expect(new Set(keys).size).toBe(candidates.length);
  });
});

// The vec4 form (SwiftShader's choice: four floats per access) as the adapter's default: the cases
// whose channel counts are multiples of 4 take it, the others (9 or 37 or 70 columns, 5 channels)
// fall back to the loop form; the extra cases cover the bias epilogue and a dense layer on it.
const VEC4_CASES: OpCase[] = [
  ...WIDE_CASES,
  {
    name: 'fusedConv2d same, bias only, 12 -> 20 channels, batch 2',
    covers: ['fusedConv2d'],
    inputs: () => [rand([2, 5, 6, 12], 225), rand([3, 3, 12, 20], 226), rand([20], 227)],
    f: (x, w, b) => cs.fusedConv2d(x, w, b, { padding: 'same' }),
  },
  {
    name: 'conv2dBackpropInput same stride 1, 16 -> 3 channels (narrow form), batch 2',
    covers: ['conv2dBackpropInput'],
    inputs: () => [rand([2, 6, 5, 16], 230), rand([3, 3, 3, 16], 231)],
    f: (dy, w) => cs.conv2dBackpropInput(dy, w, [2, 6, 5, 3], { padding: 'same' }),
  },
  {
    name: 'conv2dBackpropInput with a ReLU mask, 8 -> 2 channels (narrow form)',
    covers: ['conv2dBackpropInput'],
    inputs: () => [rand([1, 5, 4, 8], 232), rand([3, 3, 2, 8], 233), rand([1, 5, 4, 8], 234, -2, 2, 0.2)],
    f: (dy, w, m) => cs.conv2dBackpropInput(dy, w, [1, 5, 4, 2], { padding: 'same', reluOutput: m }),
  },
  {
    name: 'conv2d valid 2x3 stride 2, 3 -> 16 channels (backprop filter: outer products, one channel)',
    covers: ['conv2d'],
    inputs: () => [rand([2, 9, 8, 3], 235), rand([2, 3, 3, 16], 236)],
    f: (x, w) => cs.conv2d(x, w, { strides: 2 }),
  },
  {
    name: 'conv2dBackpropInput same stride 1, 8 -> 20 channels, batch 2 (vec4, filter in place)',
    covers: ['conv2dBackpropInput'],
    inputs: () => [rand([2, 5, 6, 8], 237), rand([3, 3, 20, 8], 238)],
    f: (dy, w) => cs.conv2dBackpropInput(dy, w, [2, 5, 6, 20], { padding: 'same' }),
  },
  {
    name: 'conv2dBackpropInput valid 2x3 with a ReLU mask, 12 -> 8 channels (vec4, filter in place)',
    covers: ['conv2dBackpropInput'],
    inputs: () => [rand([1, 4, 4, 12], 239), rand([2, 3, 8, 12], 240), rand([1, 4, 4, 12], 241, -2, 2, 0.2)],
    f: (dy, w, m) => cs.conv2dBackpropInput(dy, w, [1, 5, 6, 8], { padding: 'valid', reluOutput: m }),
  },
  {
    name: 'matmul 2 rows, K = 24, N = 36',
    covers: ['matmul'],
    inputs: () => [rand([2, 24], 228), rand([24, 36], 229)],
    f: (a, b) => cs.matmul(a, b),
  },
];

describe('the vec4 tap GEMM (tap_gemm.ts) agrees with the reference backend', () => {
  // forced, since products this small would otherwise take the loop tile (SMALL_CONV_FLOPS); where it does not fit, the default
  beforeAll(() => {
    useTuningTable({ adapter: 'test', date: '', tilings: {}, tapDefault: { TM: 4, TN: 4, WG: 16, vec4: true } });
    forceTapTiling({ TM: 4, TN: 4, WG: 16, vec4: true });
  });
  afterAll(() => {
    forceTapTiling(undefined);
    restoreAdapterTable(gpu as WebGPUBackend);
  });
  const vec4Cases = ['16 -> 40', '24 -> 12', '16 -> 12', 'bias only', 'N = 36', 'filter in place'];
  for (const c of VEC4_CASES) {
    it(c.name, async () => {
      const keys = await checkWide(c);
      const onVec4 = keys.some((k) => /\|tap[\d.]+v$/.test(k));
      // the forward (and its gradients) of a case whose every size is a multiple of 4 runs on the vec4 form
      expect(onVec4, keys.join(', ')).toBe(vec4Cases.some((n) => c.name.includes(n)));
      // 1-4 columns with channel runs a multiple of 4: the narrow form
      if (c.name.includes('narrow')) expect(keys.some((k) => /\|tap[\d.]+n$/.test(k)), keys.join(', ')).toBe(true);
      // a stride-1 backprop input on the vec4 form reads the filter in place (a transposed B), with no transpose dispatch
      if (/filter in place|16 -> 40/.test(c.name)) {
        expect(keys.some((k) => /^tapgemm:none(:mask)?:bT:\d\|tap[\d.]+v$/.test(k)), keys.join(', ')).toBe(true);
        expect(keys.filter((k) => k.startsWith('filterTranspose')), keys.join(', ')).toEqual([]);
      }
      // a filter gradient with a multiple of 8 filters: the outer-product backprop filter (vec4 channels where they divide by 4)
      if (/16 -> 40|3 -> 16/.test(c.name)) expect(keys.some((k) => k.startsWith(`conv2dBackpropFilter-outer${c.name.includes('3 -> 16') ? '1' : '4'}`)), keys.join(', ')).toBe(true);
    });
  }
});

// An adapter without a tuning table runs these on the shared-memory GEMM (gemm.ts) instead.
describe('the same cases on the shared-memory GEMM (an adapter without a tuning table)', () => {
  beforeAll(() => useTuningTable({ adapter: 'none', date: '', tilings: {} }));
  afterAll(() => restoreAdapterTable(gpu as WebGPUBackend));
  for (const c of WIDE_CASES) {
    it(c.name, async () => {
      const keys = await checkWide(c);
      expect(keys.filter((k) => k.includes('|tap')), 'no tap-GEMM dispatch').toEqual([]);
    });
  }
});

describe('finite differences on WebGPU (float32)', () => {
  // float32 central differences: rounding error ~ 6e-8 * |f| / eps and truncation ~ eps^2 |f'''|;
  // with eps = 1e-2 on inputs of size ~1 both stay below 1e-3, so 1e-2 relative + 2e-3 absolute.
  const picks = ['conv2d same 3x3 stride 2 odd size', 'conv2d same dilation 2', 'maxPool 3x3 stride 2 same odd', 'softmax', 'conv-relu-pool-dense-sigmoid chain', 'avgPool 3x3 same', 'matmul AᵀBᵀ', 'div broadcast'];
  for (const name of picks) {
    it(name, async () => {
      const c = OP_CASES.find((k) => k.name === name)!;
      cs.engine.useBackend(cpu);
      const onCpu = c.inputs();
      const xs = await Promise.all(onCpu.map((t) => copyTo(t, gpu)));
      cs.dispose(onCpu);
      cs.engine.useBackend(gpu);
      const r = await cs.checkGradients(c.f, xs, { eps: 1e-2, rtol: 1e-2, atol: 2e-3, maxElements: 40 });
      cs.dispose(xs);
      expect(r.checked).toBeGreaterThan(0);
      expect(r.mismatches).toEqual([]);
    });
  }
});
