import type { Tensor } from '../engine/tensor.ts';
import type { Model } from '../models/model.ts';
import { VIRIDIS } from './colormap.ts';
import { activationGrid, numpyMeanStdF32, renderActivationChannel, renderGridViridis } from './grid.ts';
import type { ImageU8 } from './image.ts';

/** One layer's output for one image, read back from the backend. */
export interface LayerActivation {
  layer: string;
  /** [height, width, channels] (or [features] for a flattened layer). */
  shape: number[];
  /** HWC values of the first image of the batch. */
  values: Float32Array;
  /** Per-channel mean and population standard deviation. */
  channels: { mean: number; std: number }[];
}

/**
 * The activation model: every requested layer's output for `input`, computed in
 * one forward pass (SPEC.md section 1). Values are for the first image of the batch.
 */
export async function computeActivations(model: Model, input: Tensor, layers: readonly string[]): Promise<LayerActivation[]> {
  const outs = model.run(input, layers);
  try {
    return await Promise.all(
      outs.map(async (t, i) => {
        const all = await t.data();
        const shape = t.shape.slice(1);
        const per = shape.reduce((a, b) => a * b, 1);
        const values = all.slice(0, per);
        const c = shape[shape.length - 1];
        const channels = Array.from({ length: c }, (_, ch) => numpyMeanStdF32((j) => values[j * c + ch], per / c));
        return { layer: layers[i], shape, values, channels };
      }),
    );
  } finally {
    for (const t of outs) t.dispose();
  }
}

/** The book's per-layer picture: channels tiled 16 per row, standardised, viridis. */
export function renderLayerGrid(a: LayerActivation, imagesPerRow = 16): ImageU8 {
  if (a.shape.length !== 3) throw new Error(`layer '${a.layer}' has output shape [${a.shape.join(',')}]; only conv and pooling layers (H, W, C) can be shown as a grid`);
  const [h, w, c] = a.shape;
  return renderGridViridis(activationGrid(a.values, h, w, c, imagesPerRow));
}

/** One channel as a matrix image, min-max scaled, viridis (the book's matshow). */
export function renderChannel(a: LayerActivation, channel: number): ImageU8 {
  if (a.shape.length !== 3) throw new Error(`layer '${a.layer}' is not a conv or pooling layer`);
  const [h, w, c] = a.shape;
  if (!Number.isInteger(channel) || channel < 0 || channel >= c) throw new Error(`layer '${a.layer}' has channels 0..${c - 1}; got ${channel}`);
  return renderActivationChannel(a.values, h, w, c, channel, VIRIDIS);
}
