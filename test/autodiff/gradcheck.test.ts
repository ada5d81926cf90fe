import { beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';
import { defineGradient, differentiableOps } from '../../src/autodiff/gradient_registry.ts';
import { registerKernel } from '../../src/engine/kernel_registry.ts';
import { output, valuesOf } from '../../src/kernels/reference/backend.ts';
import { OP_CASES } from '../helpers/op_cases.ts';

// Float64 reference backend: central differences with eps 1e-6 have truncation
// error ~eps^2 * f''' and rounding error ~1e-16 / eps ~ 1e-10, so agreement to
// rtol 1e-6 (plus atol 1e-8 for gradients that are exactly zero) leaves no room for a wrong rule.
const TOL = { eps: 1e-6, rtol: 1e-6, atol: 1e-8 };

describe('finite-difference check of every gradient rule (cpu64)', () => {
  beforeAll(async () => {
    await cs.setBackend('cpu64');
  });

  for (const c of OP_CASES) {
    it(c.name, async () => {
      const xs = c.inputs();
      const before = cs.engine.numTensors;
      const r = await cs.checkGradients(c.f, xs, TOL);
      expect(cs.engine.numTensors).toBe(before); // the checker leaks nothing
      xs.forEach((x) => x.dispose());
      expect(r.checked).toBe(xs.reduce((n, x) => n + x.size, 0));
      expect(r.mismatches).toEqual([]);
    });
  }

  it('the table covers every op that has a gradient rule', () => {
    const covered = new Set(OP_CASES.flatMap((c) => c.covers));
    const missing = differentiableOps().filter((op) => !covered.has(op) && !op.startsWith('test'));
    expect(missing).toEqual([]);
  });

  it('a wrong gradient rule is caught (the check can fail)', async () => {
    // A test-only op, cube, whose rule claims d(x^3)/dx = 2x^2 instead of 3x^2.
    registerKernel('testBrokenCube', 'reference', ({ x }, _a, backend) => {
      const xv = valuesOf(x);
      const { out, v } = output(backend, [...x.shape]);
      for (let i = 0; i < v.length; i++) v[i] = xv[i] ** 3;
      return out;
    });
    defineGradient('testBrokenCube', { saves: ['x'], inputs: { x: ({ dy, saved: { x } }) => cs.mul(dy, cs.mul(cs.square(x), 2)) } });
    const x = cs.tensor([0.3, -1.2, 2.0]);
    const r = await cs.checkGradients((t) => cs.engine.runOp('testBrokenCube', { x: t }), [x], TOL);
    expect(r.mismatches.map((m) => m.index)).toEqual([0, 1, 2]);
    // numeric / analytic = 3x^2 / 2x^2 at every element, whatever the random projection
    for (const m of r.mismatches) expect(m.numeric / m.analytic).toBeCloseTo(1.5, 6);
    x.dispose();
  });
});
