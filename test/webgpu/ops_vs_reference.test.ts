import { beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';
import type { Backend } from '../../src/engine/backend.ts';
import { OP_CASES } from '../helpers/op_cases.ts';
import { backendNamed, copyTo, webgpu } from '../helpers/backends.ts';
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

async function run(backend: Backend, c: (typeof OP_CASES)[number], inputsOnCpu: cs.Tensor[]) {
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
