import { engine } from '../engine/engine.ts';
import * as ops from '../engine/ops/index.ts';
import { Random } from '../engine/random.ts';
import type { Tensor } from '../engine/tensor.ts';
import { gradientsOf } from '../autodiff/api.ts';
import type { Model } from '../models/model.ts';
import { deprocessImage } from './grid.ts';

/**
 * Filter patterns by gradient ascent in input space, exactly as SPEC.md section 2:
 *   loss = mean over (height, width) of layer_output[..., filter]
 *   g = d loss / d input;  g /= (sqrt(mean(g^2)) + 1e-5);  x += g * step
 * from x0 = uniform[0,1) * 20 + 128 (seeded; or a constant 128 image), 40 steps,
 * then deprocess. Several filters run as one batch (image i ascends filter i):
 * images do not interact, so each gets exactly the gradient of its own loss, and
 * the normalisation is per image. The whole loop stays on the backend; losses are
 * read back once at the end.
 */
export interface FilterPatternOptions {
  /** Square input size (default 150). */
  size?: number;
  steps?: number;
  /** Gradient step (default 1). */
  stepSize?: number;
  init?: 'noise' | 'gray';
  seed?: number;
  /** Called after every step (for progress bars). */
  onStep?: (step: number, steps: number) => void;
}

export interface FilterPattern {
  layer: string;
  filter: number;
  size: number;
  /** The loss before each step (index 0 is the start) and after the last: steps + 1 values. */
  losses: number[];
  /** The final input image, float HWC (before deprocessing). */
  input: Float32Array;
  /** Deprocessed RGB uint8, size x size x 3. */
  image: Uint8Array;
}

/** The starting images: the book's noise (per image, from one seeded stream) or flat gray. */
export function initialImages(batch: number, size: number, init: 'noise' | 'gray', seed: number, channels = 3): Float32Array {
  const v = new Float32Array(batch * size * size * channels);
  if (init === 'gray') return v.fill(128);
  const r = new Random(seed);
  for (let i = 0; i < v.length; i++) v[i] = r.next() * 20 + 128;
  return v;
}

/** Runs the ascent for `filters` of `layer` in one batch. */
export async function filterPatterns(model: Model, layer: string, filters: readonly number[], o: FilterPatternOptions = {}): Promise<FilterPattern[]> {
  const size = o.size ?? 150;
  const steps = o.steps ?? 40;
  const stepSize = o.stepSize ?? 1;
  layer = model.resolve(layer);
  const info = model.layerInfo(layer);
  const outShape = model.storedShape(layer);
  if (outShape.length !== 4) throw new Error(`layer '${layer}' (${info.layer.className}) has output shape [${outShape.join(',')}]; filter patterns need a conv layer`);
  const inChannels = model.inputShape[2] ?? 3;
  const channels = outShape[3]!;
  for (const f of filters) {
    if (!Number.isInteger(f) || f < 0 || f >= channels) throw new Error(`layer '${layer}' has filters 0..${channels - 1}; got ${f}`);
  }
  const batch = filters.length;
  // one-hot [batch, 1, 1, channels]: picks filter i's channel for image i
  const pick = new Float32Array(batch * channels);
  filters.forEach((f, i) => (pick[i * channels + f] = 1));
  const mask = engine.keep(engine.fromValues(pick, [batch, 1, 1, channels]));
  let x = engine.keep(engine.fromValues(initialImages(batch, size, o.init ?? 'noise', o.seed ?? 0, inChannels), [batch, size, size, inChannels]));
  const losses: Float32Array[] = [];
  const lossOf = (out: Tensor) => filterLoss(out, mask);
  try {
    for (let s = 0; s < steps; s++) {
      const input = x;
      const { value, next } = filterStep(model, layer, input, mask, stepSize);
      x.dispose();
      x = engine.keep(next);
      // reading the loss back waits for the step's GPU work: nothing piles up, and
      // progress reports steps that are really done
      try {
        losses.push(await value.data());
      } finally {
        value.dispose();
      }
      o.onStep?.(s + 1, steps);
    }
    const [finalOut] = model.run(x, [layer]);
    const finalLoss = engine.tidy(() => lossOf(finalOut));
    finalOut.dispose();
    try {
      losses.push(await finalLoss.data());
    } finally {
      finalLoss.dispose();
    }
    const all = await x.data();
    const per = size * size * inChannels;
    return filters.map((filter, i) => {
      const input = all.slice(i * per, (i + 1) * per);
      const image = deprocessImage(input);
      // a grayscale model's pattern is shown as grey RGB
      const rgb = inChannels === 3 ? image : Uint8Array.from({ length: size * size * 3 }, (_, k) => image[Math.floor(k / 3) * inChannels]);
      return { layer, filter, size, losses: losses.map((l) => l[i]), input, image: rgb };
    });
  } finally {
    mask.dispose();
    x.dispose();
  }
}

/** Per image: the mean over height and width of its own filter's channel (mask: one-hot [batch, 1, 1, channels]) -> [batch]. */
function filterLoss(out: Tensor, mask: Tensor): Tensor {
  const [, h, w] = out.shape;
  return ops.div(ops.sum(ops.mul(out, mask), [1, 2, 3]), h * w);
}

/**
 * One gradient-ascent step, synchronous (what prepareKernels records): the loss of each image
 * and the next images, input + stepSize * g / (rms(g) + 1e-5). The input is left alone.
 */
export function filterStep(model: Model, layer: string, input: Tensor, mask: Tensor, stepSize = 1): { value: Tensor; next: Tensor } {
  const { value, grads } = gradientsOf(() => {
    const [out] = model.run(input, [layer]);
    return { value: filterLoss(out, mask), wrt: [input] };
  });
  const next = engine.tidy(() => {
    const g = grads[0];
    const rms = ops.sqrt(ops.mean(ops.square(g), [1, 2, 3], true));
    return ops.add(input, ops.mul(ops.div(g, ops.add(rms, 1e-5)), stepSize));
  });
  grads[0].dispose();
  return { value, next };
}
