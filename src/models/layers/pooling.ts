/** Pooling layers: windowed max and average, and their global forms. */
import * as ops from '../../engine/ops/index.ts';
import type { Padding, Pair } from '../keras/spec.ts';
import { defineLayer } from './layer_definition.ts';
import { image, windowedShape } from './shape_utils.ts';

export interface Pooling2DConfig {
  pool_size: Pair;
  /** Keras's `null` default is resolved to `pool_size`. */
  strides: Pair;
  padding: Padding;
}

for (const [className, alias, pool] of [
  ['MaxPooling2D', 'MaxPool2D', ops.maxPool],
  ['AveragePooling2D', 'AvgPool2D', ops.avgPool],
] as const) {
  defineLayer<Pooling2DConfig>({
    className,
    aliases: [alias],
    kind: 'pool',
    config(r) {
      r.dataFormat();
      const pool_size = r.pair('pool_size', [2, 2]);
      return { pool_size, strides: r.pair('strides', pool_size), padding: r.padding(r.pick('padding', 'border_mode') ?? 'padding') };
    },
    outputShape(c, inputs, ctx) {
      const x = image(inputs, ctx);
      return windowedShape(x, c.pool_size, c.strides, [1, 1], c.padding, x[3], ctx);
    },
    build: (c) => (xs) => ({ out: pool(xs[0], { poolSize: c.pool_size, strides: c.strides, padding: c.padding }) }),
  });
}

export interface GlobalPooling2DConfig {
  /** Keep the spatial axes as size 1 (tf.keras >= 2.6). */
  keepdims: boolean;
}

for (const [className, alias, reduce] of [
  ['GlobalAveragePooling2D', 'GlobalAvgPool2D', ops.mean],
  ['GlobalMaxPooling2D', 'GlobalMaxPool2D', ops.max],
] as const) {
  defineLayer<GlobalPooling2DConfig>({
    className,
    aliases: [alias],
    kind: 'global-pool',
    config(r) {
      r.dataFormat();
      return { keepdims: r.bool('keepdims', false) };
    },
    outputShape(c, inputs, ctx) {
      const x = image(inputs, ctx);
      return c.keepdims ? [x[0], 1, 1, x[3]] : [x[0], x[3]];
    },
    build: (c) => (xs) => ({ out: reduce(xs[0], [1, 2], c.keepdims) }),
  });
}
