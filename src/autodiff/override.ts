import { registeredOps } from '../engine/kernel_registry.ts';
import type { Attrs } from '../engine/kernel_registry.ts';
import { mul, relu, step } from '../engine/ops/elementwise.ts';
import { conv2dBackpropFilter, conv2dBackpropInput, type Conv2DOptions } from '../engine/ops/conv.ts';
import { sum } from '../engine/ops/reduce.ts';
import type { Tensor } from '../engine/tensor.ts';
import { defaultGradientRule, pushGradientOverrides, type GradientRule } from './gradient_registry.ts';

/**
 * Runs `f` with the gradient rules of some ops replaced: every op recorded on a tape
 * while `f` runs uses the rule given here instead of its registered one. The tape picks
 * an op's rule when it records the op, so what counts is that the forward pass runs
 * inside `f` (a backward pass over ops recorded outside keeps their default rules).
 * The registered rules are back when `f` returns or throws, or, when `f` returns a
 * promise, when that promise settles. Overrides nest: the innermost wins.
 *
 *   const g = withGradientOverride({ relu: guidedRelu }, () => grad(net)(x));
 *
 * See docs/autodiff.md ("Replacing a rule") for the guided-ReLU worked example.
 */
export function withGradientOverride<T>(rules: Readonly<Record<string, GradientRule>>, f: () => T): T {
  const set = new Map<string, GradientRule>();
  for (const [op, rule] of Object.entries(rules)) {
    checkOverride(op, rule);
    set.set(op, rule);
  }
  const restore = pushGradientOverrides(set);
  let result: T;
  try {
    result = f();
  } catch (e) {
    restore();
    throw e;
  }
  if (result && typeof (result as { then?: unknown }).then === 'function') {
    return (result as unknown as Promise<unknown>).finally(restore) as T;
  }
  restore();
  return result;
}

function checkOverride(op: string, rule: GradientRule): void {
  const known = defaultGradientRule(op) !== undefined || registeredOps('reference').includes(op) || op === 'reshape';
  if (!known) throw new Error(`withGradientOverride: there is no op named '${op}'`);
  if (!rule || !Array.isArray(rule.saves) || typeof rule.inputs !== 'object' || rule.inputs === null) {
    throw new Error(`withGradientOverride: the rule for '${op}' must be { saves: [...], inputs: { name: (g) => Tensor } }`);
  }
  const base = defaultGradientRule(op);
  for (const [name, fn] of Object.entries(rule.inputs)) {
    if (typeof fn !== 'function') throw new Error(`withGradientOverride: the rule for '${op}' gives input '${name}' a ${typeof fn}, not a function`);
    if (base && !(name in base.inputs)) {
      throw new Error(`withGradientOverride: op '${op}' has no input '${name}' (its inputs with gradients: ${Object.keys(base.inputs).join(', ')})`);
    }
  }
}

/**
 * Guided backpropagation's ReLU (Springenberg et al. 2015, "Striving for Simplicity",
 * section 3.4): a gradient passes only where the forward input was positive (the
 * ordinary ReLU rule) *and* the gradient arriving from above is positive:
 *   dx = dy * [x > 0] * [dy > 0] = relu(dy) * step(x)
 */
export const guidedRelu: GradientRule = {
  saves: ['x'],
  inputs: { x: ({ dy, saved: { x } }) => mul(relu(dy), step(x)) },
};

const convOpts = (a: Attrs): Conv2DOptions => ({
  strides: a.strides as [number, number],
  padding: a.padding as 'valid' | 'same',
  dilations: a.dilations as [number, number],
});
const isRelu = (a: Attrs) => a.activation === 'relu';
/** The fused conv's ReLU gate under the guided rule: relu(dy) * step(y) (y > 0 exactly where the pre-activation is). */
const guidedGate = (dy: Tensor, y: Tensor, a: Attrs) => (isRelu(a) ? mul(relu(dy), step(y)) : dy);

/**
 * The guided rule for `fusedConv2d` (a Keras Conv2D layer with a ReLU runs as one op
 * with the ReLU inside it, so overriding 'relu' alone would miss those ReLUs): the
 * incoming gradient is clipped at zero before the fused ReLU mask, as guidedRelu does.
 */
export const guidedFusedConv2d: GradientRule = {
  saves: ['x', 'filter', 'y'],
  inputs: {
    x: ({ dy, saved: { filter, y }, shapes, attrs }) =>
      conv2dBackpropInput(isRelu(attrs) ? relu(dy) : dy, filter, shapes.x, { ...convOpts(attrs), reluOutput: isRelu(attrs) ? y : undefined }),
    filter: ({ dy, saved: { x, y }, shapes, attrs }) => conv2dBackpropFilter(x, guidedGate(dy, y, attrs), shapes.filter, convOpts(attrs)),
    bias: ({ dy, saved: { y }, attrs }) => sum(guidedGate(dy, y, attrs), [0, 1, 2]),
  },
};

/** Every ReLU the engine has, guided: `withGradientOverride(GUIDED_BACKPROP, f)`. */
export const GUIDED_BACKPROP: Readonly<Record<string, GradientRule>> = { relu: guidedRelu, fusedConv2d: guidedFusedConv2d };
