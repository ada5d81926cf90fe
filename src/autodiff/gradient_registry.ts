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

export function gradientRule(op: string): GradientRule | undefined {
  return rules.get(op);
}

export function isNonDifferentiable(op: string): boolean {
  return nonDifferentiable.has(op);
}

export function differentiableOps(): string[] {
  return [...rules.keys()].sort();
}
