import { defineGradient } from '../gradient_registry.ts';
import { reshape, transpose, slice, pad } from '../../engine/ops/shape_ops.ts';
import { unbroadcast } from './unbroadcast.ts';

// reshape: give dy the input's shape back
defineGradient('reshape', { saves: [], inputs: { x: ({ dy, shapes }) => reshape(dy, shapes.x) } });

// transpose: apply the inverse permutation
defineGradient('transpose', {
  saves: [],
  inputs: {
    x: ({ dy, attrs }) => {
      const perm = attrs.perm as number[];
      const inverse = perm.map((_, i) => perm.indexOf(i));
      return transpose(dy, inverse);
    },
  },
});

// slice: dy lands in its block, zeros elsewhere
defineGradient('slice', {
  saves: [],
  inputs: {
    x: ({ dy, attrs, shapes }) => {
      const begin = attrs.begin as number[];
      const size = attrs.size as number[];
      return pad(dy, shapes.x.map((d, i) => [begin[i], d - begin[i] - size[i]] as [number, number]));
    },
  },
});

// pad: keep the un-padded block of dy
defineGradient('pad', {
  saves: [],
  inputs: {
    x: ({ dy, attrs, shapes }) => slice(dy, (attrs.paddings as [number, number][]).map((p) => p[0]), shapes.x),
  },
});

// broadcastTo: sum over the repeated axes
defineGradient('broadcastTo', { saves: [], inputs: { x: ({ dy, shapes }) => unbroadcast(dy, shapes.x) } });

// concat: each input gets its own slab of dy. Rules are keyed by input name (x0, x1, ...);
// enough names are registered for any realistic model (Fire modules concatenate 2).
const MAX_CONCAT_INPUTS = 64;
const concatInputs: Record<string, Parameters<typeof defineGradient>[1]['inputs'][string]> = {};
for (let i = 0; i < MAX_CONCAT_INPUTS; i++) {
  concatInputs[`x${i}`] = ({ dy, attrs, shapes }) => {
    const axis = attrs.axis as number;
    let offset = 0;
    for (let j = 0; j < i; j++) offset += shapes[`x${j}`][axis];
    const begin = dy.shape.map((_, ax) => (ax === axis ? offset : 0));
    return slice(dy, begin, shapes[`x${i}`]);
  };
}
defineGradient('concat', { saves: [], inputs: concatInputs });
