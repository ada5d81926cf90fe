import { beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';

const vals = (t: cs.Tensor) => Array.from(t.dataSync());

beforeAll(async () => {
  await cs.setBackend('cpu64');
});

describe('reverse-mode autodiff', () => {
  it('fan-out: a tensor used twice gets the sum of both gradients', () => {
    const x = cs.tensor([1, 2, 3]);
    // f = sum(x * x + x * 3) -> df/dx = 2x + 3
    const g = cs.grad((t) => cs.sum(cs.add(cs.mul(t, t), cs.mul(t, 3))))(x);
    expect(vals(g)).toEqual([5, 7, 9]);
    // a diamond: y = relu(x); f = sum(y * y * y) via two branches of y
    const g2 = cs.grad((t) => {
      const y = cs.relu(t);
      return cs.sum(cs.mul(cs.mul(y, y), y));
    })(cs.tensor([-1, 2]));
    expect(vals(g2)).toEqual([0, 12]);
  });

  it('gradient with respect to an intermediate tensor (the Grad-CAM case)', () => {
    const x = cs.tensor([0.5, -1, 2, 1], [1, 2, 2, 1]);
    const w = cs.tensor([2], [1, 1, 1, 1]);
    const { value, grads } = cs.gradientsOf(() => {
      const A = cs.conv2d(x, w); // the "conv layer output"
      const score = cs.sum(cs.mul(cs.relu(A), cs.tensor([1, 2, 3, 4], [1, 2, 2, 1])));
      return { value: score, wrt: [A, x] };
    });
    // A = 2x = [1, -2, 4, 2]; d score/dA = [1, 0, 3, 4] (relu gate); d score/dx = 2 * that
    expect(vals(value)).toEqual([1 + 12 + 8]);
    expect(vals(grads[0])).toEqual([1, 0, 3, 4]);
    expect(vals(grads[1])).toEqual([2, 0, 6, 8]);
  });

  it('a source the target does not depend on gets zeros', () => {
    const x = cs.tensor([1, 2]);
    const unrelated = cs.tensor([5, 6, 7]);
    const { grads } = cs.valueAndGrads((a, _b) => cs.sum(cs.square(a)))(x, unrelated);
    expect(vals(grads[0])).toEqual([2, 4]);
    expect(vals(grads[1])).toEqual([0, 0, 0]);
  });

  it('non-differentiable comparison ops pass no gradient; where routes it', () => {
    const x = cs.tensor([-1, 2, 3]);
    const g = cs.grad((t) => cs.sum(cs.where(cs.greater(t, 0), cs.mul(t, 10), cs.mul(t, t))))(x);
    expect(vals(g)).toEqual([-2, 10, 10]);
  });

  it('a non-scalar target is summed (dy = ones) and an explicit dy weights it', () => {
    const x = cs.tensor([1, 2]);
    expect(vals(cs.grad((t) => cs.mul(t, t))(x))).toEqual([2, 4]);
    const { grads } = cs.gradientsOf(() => ({ value: cs.mul(x, x), wrt: [x] }), { dy: cs.tensor([10, -1]) });
    expect(vals(grads[0])).toEqual([20, -4]);
  });

  it('lossAndGradsFunction returns host values of the loss and each gradient in one call', async () => {
    const iterate = cs.lossAndGradsFunction((input) => {
      const h = cs.relu(cs.mul(input, 2));
      return { loss: cs.mean(h), wrt: [input, h] };
    });
    const x = cs.tensor([1, -1, 3, 0.5]);
    const { loss, grads } = await iterate(x);
    expect(Array.from(loss)).toEqual([(2 + 6 + 1) / 4]);
    expect(Array.from(grads[0])).toEqual([0.5, 0, 0.5, 0.5]);
    expect(Array.from(grads[1])).toEqual([0.25, 0.25, 0.25, 0.25]);
  });

  it('an op without a gradient rule on the path gives a clear error', () => {
    const x = cs.tensor([1, 2, 3, 4], [1, 2, 2, 1]);
    expect(() =>
      cs.gradientsOf(() => {
        const dy = cs.mul(x, 2);
        return { value: cs.sum(cs.maxPoolBackward(dy, x, { poolSize: 1 })), wrt: [dy] };
      }),
    ).toThrow(/op 'maxPoolBackward' has no gradient with respect to its input 'dy'/);
  });

  it('onlyWatched records nothing upstream of the watched tensor, and gives the same gradient', () => {
    const x = cs.tensor([0.5, -1, 2, 1], [1, 2, 2, 1]);
    const w = cs.tensor([2], [1, 1, 1, 1]);
    const weights = cs.tensor([1, 2, 3, 4], [1, 2, 2, 1]);
    const rows: string[] = [];
    const { grads } = cs.gradientsOf(
      (watch) => {
        const A = watch(cs.relu(cs.conv2d(x, w)));
        return { value: cs.sum(cs.mul(cs.relu(A), weights)), wrt: [A] };
      },
      { onlyWatched: true, trace: (e) => rows.push(e.op) },
    );
    expect(vals(grads[0])).toEqual([1, 0, 3, 4]);
    expect(rows).toEqual(['sum', 'mul', 'relu']); // conv2d and the first relu were never recorded
  });

  it('second order: the gradient of a gradient', () => {
    // d/dx (d/dx x^3) = 6x, by recording the first backward pass on an outer tape
    const x = cs.tensor([1, 2]);
    const { grads } = cs.gradientsOf(() => {
      const g = cs.grad((t) => cs.sum(cs.mul(cs.square(t), t)))(x);
      return { value: cs.sum(g), wrt: [x] };
    });
    expect(vals(grads[0])).toEqual([6, 12]);
  });
});

describe('memory ownership', () => {
  it('tidy disposes everything it does not return, across nested scopes', () => {
    const before = cs.engine.numTensors;
    const kept = cs.tidy(() => {
      const a = cs.ones([3]);
      const inner = cs.tidy(() => {
        const b = cs.add(a, 1);
        cs.mul(b, b); // dropped
        return cs.exp(b);
      });
      expect(cs.engine.numTensors).toBe(before + 2); // a and inner; b and its square are gone
      return { inner, other: [cs.neg(inner)] };
    });
    expect(cs.engine.numTensors).toBe(before + 2);
    expect(kept.inner.isDisposed).toBe(false);
    cs.dispose(kept);
    expect(cs.engine.numTensors).toBe(before);
  });

  it('keep() survives its scope; a disposed tensor cannot be used', () => {
    let k: cs.Tensor | undefined;
    cs.tidy(() => {
      k = cs.keep(cs.ones([2]));
    });
    expect(k!.isDisposed).toBe(false);
    k!.dispose();
    expect(() => cs.relu(k!)).toThrow(/relu \(input 'x'\): tensor #\d+ of shape \[2\] was disposed/);
  });

  it('gradient computations leak no tensor and no buffer', () => {
    const x = cs.randomNormal([1, 6, 6, 2], 0, 1, 1);
    const w = cs.randomNormal([3, 3, 2, 4], 0, 1, 2);
    const b0 = cs.engine.numTensors;
    const bytes0 = cs.getBackend().liveBytes();
    for (let i = 0; i < 5; i++) {
      const { value, grads } = cs.valueAndGrads((a, f) => cs.mean(cs.maxPool(cs.relu(cs.conv2d(a, f, { padding: 'same' })))))(x, w);
      cs.dispose([value, ...grads]);
    }
    expect(cs.engine.numTensors).toBe(b0);
    expect(cs.getBackend().liveBytes()).toBe(bytes0);
  });

  it('a reshape shares the buffer; the buffer lives until its last tensor goes', () => {
    const bytes0 = cs.getBackend().liveBytes();
    const a = cs.ones([2, 3]);
    const b = cs.reshape(a, [6]);
    a.dispose();
    expect(vals(b)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(cs.getBackend().liveBytes()).toBe(bytes0 + 6 * 8);
    b.dispose();
    expect(cs.getBackend().liveBytes()).toBe(bytes0);
  });
});
