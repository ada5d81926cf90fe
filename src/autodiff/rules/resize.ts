import { defineGradient } from '../gradient_registry.ts';
import { resizeBilinear, resizeBilinearBackward, resizeNearest, resizeNearestBackward, type ResizeOptions } from '../../engine/ops/resize.ts';
import type { Attrs } from '../../engine/kernel_registry.ts';

const opts = (a: Attrs): ResizeOptions => ({ alignCorners: a.alignCorners as boolean, halfPixelCenters: a.halfPixelCenters as boolean });

// A resize is linear in x with fixed weights; its gradient op applies the transposed weights.
defineGradient('resizeBilinear', {
  saves: [],
  inputs: { x: ({ dy, shapes, attrs }) => resizeBilinearBackward(dy, shapes.x, opts(attrs)) },
});
defineGradient('resizeNearest', {
  saves: [],
  inputs: { x: ({ dy, shapes, attrs }) => resizeNearestBackward(dy, shapes.x, opts(attrs)) },
});

// The backward ops are linear in dy and adjoint to the forward resize, so their own
// gradient is the forward resize to dy's height and width.
defineGradient('resizeBilinearBackward', {
  saves: [],
  inputs: { dy: ({ dy: g, shapes, attrs }) => resizeBilinear(g, [shapes.dy[1], shapes.dy[2]], opts(attrs)) },
});
defineGradient('resizeNearestBackward', {
  saves: [],
  inputs: { dy: ({ dy: g, shapes, attrs }) => resizeNearest(g, [shapes.dy[1], shapes.dy[2]], opts(attrs)) },
});
