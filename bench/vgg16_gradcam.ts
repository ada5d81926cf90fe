/**
 * convscope's VGG16 Grad-CAM at 224 on random weights (forward, the class score, its gradient
 * to block5_conv3) as one synchronous pass: what the cold-start bench times and what
 * bench/compile_costs.ts lists the pipelines of.
 */
import * as cs from '../src/index.ts';
import { oursVggOps } from './items.ts';
import { VGG16_CONVS, vgg16, type VggWeights } from './vgg16_ops.ts';

/** convscope's VGG16 Grad-CAM pass as a synchronous function (what prepareKernels records). */
export function convscopeGradCam(): { pass: () => cs.Tensor[]; dispose: () => void } {
  const w: VggWeights<cs.Tensor> = { convs: new Map(), dense: new Map() };
  VGG16_CONVS.forEach(([name, inC, outC], i) => w.convs.set(name, [cs.randomNormal([3, 3, inC, outC], 0, Math.sqrt(2 / (9 * inC)), i + 1), cs.zeros([outC])]));
  for (const [name, n, m] of [
    ['fc1', 25088, 4096],
    ['fc2', 4096, 4096],
    ['predictions', 4096, 1000],
  ] as const)
    w.dense.set(name, [[cs.randomNormal([n, m], 0, Math.sqrt(2 / n), n + m)], cs.zeros([m])]);
  const x = cs.randomUniform([1, 224, 224, 3], -100, 100, 7);
  const ops = oursVggOps();
  const pass = () => {
    const { value, grads } = cs.gradientsOf(
      (watch) => {
        const { out, kept } = vgg16(ops, w, x, 'predictions', 'block5_conv3', watch);
        return { value: cs.reshape(cs.slice(out, [0, 386], [1, 1]), []), wrt: [kept!] };
      },
      { onlyWatched: true },
    );
    return [value, ...grads];
  };
  return { pass, dispose: () => cs.dispose([...[...w.convs.values(), ...w.dense.values()].flat(2), x]) };
}
