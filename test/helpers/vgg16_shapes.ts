/** The layer shapes of VGG16 at 224x224 (batch 1), as SPEC.md describes the network. */
export interface ConvShape {
  names: string[];
  size: number;
  inC: number;
  outC: number;
}

export const VGG16_BLOCKS: [number, number][] = [
  [2, 64],
  [2, 128],
  [3, 256],
  [3, 512],
  [3, 512],
];

/** Distinct conv layer shapes (several layers share one), each with the layer names that have it. */
export function vgg16ConvShapes(size = 224): ConvShape[] {
  const out: ConvShape[] = [];
  let inC = 3;
  let s = size;
  VGG16_BLOCKS.forEach(([n, c], b) => {
    for (let i = 0; i < n; i++) {
      const name = `block${b + 1}_conv${i + 1}`;
      const same = out.find((o) => o.size === s && o.inC === inC && o.outC === c);
      if (same) same.names.push(name);
      else out.push({ names: [name], size: s, inC, outC: c });
      inC = c;
    }
    s = Math.floor(s / 2);
  });
  return out;
}

/** Inputs to the five pools: [size, channels]. */
export const VGG16_POOLS: [string, number, number][] = VGG16_BLOCKS.map(([, c], b) => [`block${b + 1}_pool`, 224 >> b, c]);

export const VGG16_DENSE: [string, number, number][] = [
  ['fc1', 25088, 4096],
  ['fc2', 4096, 4096],
  ['predictions', 4096, 1000],
];
