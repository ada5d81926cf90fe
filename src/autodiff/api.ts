import { engine } from '../engine/engine.ts';
import type { Tensor } from '../engine/tensor.ts';
import { Tape, type TraceEntry } from './tape.ts';
import './rules/index.ts';

export interface ValueAndGrads {
  value: Tensor;
  grads: Tensor[];
}

export interface GradientsOptions {
  /** Weights of the target's elements (default: ones, i.e. the target is summed). */
  dy?: Tensor;
  /** Called for every rule application of the backward pass (see docs/autodiff.md). */
  trace?: (e: TraceEntry) => void;
  /**
   * Record only ops downstream of tensors passed to `watch` (which must then include
   * every source). Saves the memory of everything computed before the sources.
   */
  onlyWatched?: boolean;
}

/**
 * The general form: run `fn` on a tape; it returns the target value and the tensors
 * to differentiate with respect to, which may be intermediate tensors it computed
 * (Grad-CAM's conv-layer output) or inputs it closed over. Every other tensor
 * created inside is disposed; value and grads are the caller's.
 *
 *   const { value, grads: [dA] } = gradientsOf(() => {
 *     const A = features(x); const score = head(A);
 *     return { value: score, wrt: [A] };
 *   });
 */
export function gradientsOf(
  fn: (watch: (t: Tensor) => Tensor) => { value: Tensor; wrt: readonly Tensor[] },
  o: GradientsOptions = {},
): ValueAndGrads {
  return engine.tidy(() => {
    const tape = new Tape({ onlyWatched: o.onlyWatched });
    try {
      const { value, wrt } = tape.record(() =>
        fn((t) => {
          tape.watch(t);
          return t;
        }),
      );
      const grads = tape.gradient(value, wrt, o.dy, o.trace);
      return { value, grads };
    } finally {
      tape.dispose();
    }
  });
}

/** f's value and its gradients with respect to every argument. */
export function valueAndGrads(f: (...xs: Tensor[]) => Tensor): (...xs: Tensor[]) => ValueAndGrads {
  return (...xs) => gradientsOf(() => ({ value: f(...xs), wrt: xs }));
}

/** f's value and its gradient with respect to its single argument. */
export function valueAndGrad(f: (x: Tensor) => Tensor): (x: Tensor) => { value: Tensor; grad: Tensor } {
  return (x) => {
    const { value, grads } = gradientsOf(() => ({ value: f(x), wrt: [x] }));
    return { value, grad: grads[0] };
  };
}

/** The gradient of f (summed over its output if not scalar) with respect to x. */
export function grad(f: (x: Tensor) => Tensor): (x: Tensor) => Tensor {
  return (x) => {
    const { value, grad: g } = valueAndGrad(f)(x);
    value.dispose();
    return g;
  };
}

export function grads(f: (...xs: Tensor[]) => Tensor): (...xs: Tensor[]) => Tensor[] {
  return (...xs) => {
    const { value, grads: g } = valueAndGrads(f)(...xs);
    value.dispose();
    return g;
  };
}

/**
 * The Keras-backend idiom `K.function([input], [loss, grads])` in one call: a function
 * from an input tensor to host arrays of the loss and of each gradient. `build`
 * receives the input and returns the loss and the tensors to differentiate with
 * respect to (the input itself, or intermediate tensors).
 */
export function lossAndGradsFunction(
  build: (input: Tensor) => { loss: Tensor; wrt: readonly Tensor[] },
): (input: Tensor) => Promise<{ loss: Float32Array; grads: Float32Array[] }> {
  return async (input) => {
    const { value, grads: g } = gradientsOf(() => {
      const { loss, wrt } = build(input);
      return { value: loss, wrt };
    });
    try {
      return { loss: await value.data(), grads: await Promise.all(g.map((t) => t.data())) };
    } finally {
      value.dispose();
      for (const t of g) t.dispose();
    }
  };
}
