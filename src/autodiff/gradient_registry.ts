import type { Attrs } from '../engine/kernel_registry.ts';
import type { Shape } from '../engine/shape.ts';
import type { Tensor } from '../engine/tensor.ts';

/** What a gradient rule sees when the tape replays its op backwards. */
export interface GradContext {
  /** Gradient of the target with respect to this op's output. */
  dy: Tensor;
  /** The forward-pass tensors the rule asked to save, by input name ('y' is the output). */
  saved: Record<string, Tensor>;
  attrs: Attrs;
  /** Shapes of every input, by name (saved or not), and 'y'. */
  shapes: Record<string, Shape>;
}

/**
 * The gradient rule of one op: which forward tensors it keeps, and for each input
 * a function giving d(target)/d(input) from dy. An input missing from `inputs`
 * has no gradient (asking for one through it is an error).
 */
export interface GradientRule {
  /** Input names to keep ('y' is the output); 'name?' is an optional input, kept when present. */
  saves: readonly string[];
  inputs: Record<string, (g: GradContext) => Tensor>;
}

const rules = new Map<string, GradientRule>();
/** Ops whose derivative is zero almost everywhere: the tape does not record them. */
const nonDifferentiable = new Set<string>();

export function defineGradient(op: string, rule: GradientRule): void {
  if (rules.has(op)) throw new Error(`gradient rule for '${op}' defined twice`);
  rules.set(op, rule);
}

export function defineNonDifferentiable(...ops: string[]): void {
  for (const op of ops) nonDifferentiable.add(op);
}

/**
 * Rules in force instead of the registered ones, innermost last: pushed and removed by
 * `withGradientOverride` (src/autodiff/override.ts). The tape asks `gradientRule` when it
 * records an op, so an override applies to the ops recorded while it is in force.
 */
const overrides: ReadonlyMap<string, GradientRule>[] = [];

export function gradientRule(op: string): GradientRule | undefined {
  for (let i = overrides.length - 1; i >= 0; i--) {
    const r = overrides[i].get(op);
    if (r) return r;
  }
  return rules.get(op);
}

/** The registered (default) rule of an op, ignoring any override in force. */
export function defaultGradientRule(op: string): GradientRule | undefined {
  return rules.get(op);
}

/** Puts a set of rules in force over the registered ones; returns the function that removes exactly this set. */
export function pushGradientOverrides(set: ReadonlyMap<string, GradientRule>): () => void {
  overrides.push(set);
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    const i = overrides.lastIndexOf(set);
    if (i >= 0) overrides.splice(i, 1);
  };
}

/** The op names whose rule is overridden right now (empty outside every withGradientOverride). */
export function overriddenOps(): string[] {
  return [...new Set(overrides.flatMap((m) => [...m.keys()]))].sort();
}

export function isNonDifferentiable(op: string): boolean {
  return nonDifferentiable.has(op);
}

export function differentiableOps(): string[] {
  return [...rules.keys()].sort();
}
