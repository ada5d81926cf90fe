/**
 * withGradientOverride: a rule replaced for the ops recorded inside f, the registered
 * rules back afterwards (after a return, a throw, or a settled promise), nesting, and
 * guided backpropagation's rules (relu and the fused conv's relu). On the float64
 * reference backend, so every comparison is exact or to float64 rounding.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';
import { defaultGradientRule, gradientRule, overriddenOps, type GradientRule } from '../../src/autodiff/gradient_registry.ts';
import { GUIDED_BACKPROP, guidedFusedConv2d, guidedRelu, withGradientOverride } from '../../src/autodiff/override.ts';

const vals = (t: cs.Tensor) => Array.from(t.dataSync());

beforeAll(async () => {
  await cs.setBackend('cpu64');
});

// f(x) = sum(w * relu(x)): d/dx = w * [x > 0]; guided: relu(w) * [x > 0]
const x = () => cs.tensor([-1, 2, 3, -4, 5]);
const w = () => cs.tensor([1, -2, 3, 4, -5]);
const f = (t: cs.Tensor) => cs.sum(cs.mul(w(), cs.relu(t)));
const ORDINARY = [0, -2, 3, 0, -5];
const GUIDED = [0, 0, 3, 0, 0];

/** A rule that marks its use: relu's derivative taken as 100 everywhere. */
const marker: GradientRule = { saves: [], inputs: { x: ({ dy }) => cs.mul(dy, 100) } };

describe('withGradientOverride', () => {
  it('guided ReLU replaces the rule inside f only; the default rule and ordinary gradients are back afterwards', () => {
    const before = vals(cs.grad(f)(x()));
    expect(before).toEqual(ORDINARY);
    expect(vals(withGradientOverride({ relu: guidedRelu }, () => cs.grad(f)(x())))).toEqual(GUIDED);
    expect(gradientRule('relu')).toBe(defaultGradientRule('relu'));
    expect(overriddenOps()).toEqual([]);
    expect(vals(cs.grad(f)(x()))).toEqual(before);
  });

  it('the default rules are back after f throws', () => {
    expect(() =>
      withGradientOverride({ relu: guidedRelu, sigmoid: marker }, () => {
        expect(gradientRule('relu')).toBe(guidedRelu);
        expect(gradientRule('sigmoid')).toBe(marker);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(gradientRule('relu')).toBe(defaultGradientRule('relu'));
    expect(gradientRule('sigmoid')).toBe(defaultGradientRule('sigmoid'));
    expect(overriddenOps()).toEqual([]);
    expect(vals(cs.grad(f)(x()))).toEqual(ORDINARY);
  });

  it('an async f keeps the override until its promise settles (resolved or rejected)', async () => {
    const p = withGradientOverride({ relu: guidedRelu }, async () => {
      await new Promise((r) => setTimeout(r, 5));
      return vals(cs.grad(f)(x()));
    });
    expect(overriddenOps()).toEqual(['relu']);
    expect(await p).toEqual(GUIDED);
    expect(overriddenOps()).toEqual([]);
    await expect(withGradientOverride({ relu: guidedRelu }, async () => Promise.reject(new Error('late')))).rejects.toThrow('late');
    expect(overriddenOps()).toEqual([]);
  });

  it('nests: the innermost override wins, and leaving it restores the outer one', () => {
    withGradientOverride({ relu: guidedRelu }, () => {
      withGradientOverride({ relu: marker }, () => expect(vals(cs.grad(f)(x()))).toEqual([100, -200, 300, 400, -500]));
      expect(vals(cs.grad(f)(x()))).toEqual(GUIDED);
    });
    expect(vals(cs.grad(f)(x()))).toEqual(ORDINARY);
  });

  it('the rule is chosen when the op is recorded: a tape recorded outside keeps the default rules', () => {
    const tape = new cs.Tape();
    const xs = x();
    const y = tape.record(() => f(xs));
    const [g] = withGradientOverride({ relu: guidedRelu }, () => tape.gradient(y, [xs]));
    expect(vals(g)).toEqual(ORDINARY);
    tape.dispose();
  });

  it('guided fusedConv2d equals guided conv2d + bias + relu (the rule covers Keras Conv2D layers)', () => {
    const xi = cs.randomNormal([2, 6, 5, 3], 0, 1, 1);
    const k = cs.randomNormal([3, 3, 3, 4], 0, 0.5, 2);
    const b = cs.randomNormal([4], 0, 0.1, 3);
    const r = cs.randomNormal([2, 6, 5, 4], 0, 1, 4);
    const loss = (fused: boolean) => (t: cs.Tensor, kk: cs.Tensor, bb: cs.Tensor) =>
      cs.sum(cs.mul(fused ? cs.fusedConv2d(t, kk, bb, { padding: 'same', activation: 'relu' }) : cs.relu(cs.biasAdd(cs.conv2d(t, kk, { padding: 'same' }), bb)), r));
    const [gf, gc, ordinary] = [
      withGradientOverride(GUIDED_BACKPROP, () => cs.grads(loss(true))(xi, k, b)),
      withGradientOverride({ relu: guidedRelu }, () => cs.grads(loss(false))(xi, k, b)),
      cs.grads(loss(true))(xi, k, b),
    ];
    for (let i = 0; i < 3; i++) {
      const a = vals(gf[i]);
      const c = vals(gc[i]);
      a.forEach((v, j) => expect(Math.abs(v - c[j])).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(c[j]))));
    }
    // and it differs from the ordinary gradient (r has both signs)
    expect(vals(gf[0])).not.toEqual(vals(ordinary[0]));
    expect(GUIDED_BACKPROP.fusedConv2d).toBe(guidedFusedConv2d);
  });

  it('refuses an op that does not exist and an input the op does not have, leaving nothing in force', () => {
    expect(() => withGradientOverride({ rellu: guidedRelu }, () => 0)).toThrow(/^withGradientOverride: there is no op named 'rellu'$/);
    expect(() => withGradientOverride({ relu: { saves: [], inputs: { y: ({ dy }) => dy } } }, () => 0)).toThrow(/op 'relu' has no input 'y' \(its inputs with gradients: x\)/);
    expect(overriddenOps()).toEqual([]);
  });
});
