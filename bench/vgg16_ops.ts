/**
 * VGG16 written once against a minimal op interface, so that convscope and the
 * TensorFlow.js peers run literally the same network on the same weights.
 */
export interface VggOps<T> {
  conv(x: T, w: T, b: T): T; // conv 3x3 'same' + bias + relu
  pool(x: T): T;
  /** x times the kernel given as consecutive row blocks (one block unless the peer cannot bind it whole) */
  dense(x: T, w: T[], b: T, act: 'relu' | 'softmax'): T;
  flatten(x: T): T;
}

export const VGG16_CONVS: [string, number, number][] = [];
{
  let inC = 3;
  const blocks: [number, number][] = [
    [2, 64],
    [2, 128],
    [3, 256],
    [3, 512],
    [3, 512],
  ];
  blocks.forEach(([n, c], b) => {
    for (let i = 1; i <= n; i++) {
      VGG16_CONVS.push([`block${b + 1}_conv${i}`, inC, c]);
      inC = c;
    }
  });
}

/** The last conv of each block is followed by a 2x2 max pool. */
const POOL_AFTER = new Set(['block1_conv2', 'block2_conv2', 'block3_conv3', 'block4_conv3', 'block5_conv3']);

export interface VggWeights<T> {
  convs: Map<string, [T, T]>;
  /** kernel row blocks and bias */
  dense: Map<string, [T[], T]>;
}

/**
 * Runs VGG16 up to (and including) layer `until`; returns that layer's output and, with the top, the probabilities.
 * `watch` sees the kept layer's output as soon as it exists (an autodiff tape that records
 * only what follows it must be told before the ops that use it run).
 */
export function vgg16<T>(ops: VggOps<T>, w: VggWeights<T>, x: T, until: string, keep?: string, watch?: (t: T) => T): { out: T; kept?: T } {
  let h = x;
  let kept: T | undefined;
  for (const [name] of VGG16_CONVS) {
    const [k, b] = w.convs.get(name)!;
    h = ops.conv(h, k, b);
    if (name === keep) kept = h = watch ? watch(h) : h;
    if (name === until) return { out: h, kept };
    if (POOL_AFTER.has(name)) h = ops.pool(h);
  }
  h = ops.flatten(h);
  for (const [name, act] of [
    ['fc1', 'relu'],
    ['fc2', 'relu'],
    ['predictions', 'softmax'],
  ] as const) {
    const [k, b] = w.dense.get(name)!;
    h = ops.dense(h, k, b, act);
  }
  return { out: h, kept };
}
