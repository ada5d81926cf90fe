import * as ops from '../engine/ops/index.ts';
import { engine } from '../engine/engine.ts';
import type { Tensor } from '../engine/tensor.ts';
import { prepareKernels, type PrepareReport } from '../engine/prepare.ts';
import type { Model } from '../models/model.ts';
import { gradCamMap, gradCamPass } from '../viz/gradcam.ts';
import { filterStep } from '../viz/filters.ts';

/**
 * What the commands do on the GPU, as passes prepareKernels can record (src/engine/prepare.ts):
 * a command that knows its model and input size calls prepareCommand before its real work, so
 * that the pipelines it needs are created and compiled (on lavapipe: on two devices from the
 * two ends of the list) while it decodes images and reads labels, and, on an adapter without a
 * tile table, tuned (unless --no-tune). A pass records dispatches only: nothing runs, and its
 * values are garbage. If recording fails (a layer name the command will refuse, say), the
 * command goes on unprepared and reports the problem itself.
 *
 * CONVSCOPE_PREPARE=0 turns this off (to measure what it saves).
 */
export type CommandPass =
  | { kind: 'predict' }
  | { kind: 'gradcam'; layer?: string; score?: 'prob' | 'logit' }
  | { kind: 'activations'; layers: readonly string[] }
  /** One gradient-ascent step toward `batch` filters of `layer` on size x size images. */
  | { kind: 'filters'; layer: string; batch: number; size: number };

/** The input a command feeds the model: its fixed size, else the size loadInput resizes to. */
export function inputShapeOf(model: Model, size = 224, batch = 1): number[] {
  const [h, w, c] = model.inputShape;
  return [batch, h ?? size, w ?? size, c ?? 3];
}

function passFn(model: Model, p: CommandPass, keep: Tensor[]): () => void {
  const constant = (shape: number[], value = 0) => {
    const t = engine.keep(ops.fill(shape, value));
    keep.push(t);
    return t;
  };
  if (p.kind === 'predict') {
    const x = constant(inputShapeOf(model));
    return () => void model.predict(x);
  }
  if (p.kind === 'activations') {
    const x = constant(inputShapeOf(model));
    return () => void model.run(x, p.layers);
  }
  if (p.kind === 'gradcam') {
    const x = constant(inputShapeOf(model));
    const layer = model.resolve(p.layer ?? model.lastSpatialLayer());
    return () => {
      const { A, grads } = gradCamPass(model, x, layer, 0, p.score ?? 'prob');
      gradCamMap(A, grads[0]);
    };
  }
  const layer = model.resolve(p.layer);
  const channels = model.storedShape(layer)[3] as number;
  const x = constant(inputShapeOf(model, p.size, p.batch));
  const mask = constant([p.batch, 1, 1, channels], 1 / channels);
  return () => void filterStep(model, layer, x, mask);
}

/**
 * Records the passes of one or more models in one prepareKernels call (one list of pipelines)
 * and resolves once their pipelines exist and the driver has started compiling them: a
 * command starts it, reads its image, and awaits it before its first GPU work. It does not
 * wait for the compiles: the backend holds back a command buffer whose pipeline the helper
 * device is still compiling (src/kernels/wgsl/gated_queue.ts), so the pass runs on what is
 * ready and is never compiled twice. Never rejects; resolves to undefined where nothing was
 * prepared.
 */
export async function prepareCommand(work: { model: Model; passes: CommandPass[] }[]): Promise<PrepareReport | undefined> {
  if (process.env.CONVSCOPE_PREPARE === '0') return undefined;
  const keep: Tensor[] = [];
  try {
    const fns = work.flatMap(({ model, passes }) => passes.map((p) => passFn(model, p, keep)));
    const r = await prepareKernels(() => fns.forEach((f) => f()));
    if (process.env.CONVSCOPE_DEBUG) process.stderr.write(`convscope: prepared ${r.pipelines} pipelines (${r.compiled} new, ${r.dispatches} dispatches${r.tuned.length ? `, tuned ${r.tuned.join(', ')}` : ''}) in ${r.ms.toFixed(0)} ms (process at ${performance.now().toFixed(0)} ms)\n`);
    return r;
  } catch (e) {
    if (process.env.CONVSCOPE_DEBUG) process.stderr.write(`convscope: kernels not prepared: ${(e as Error).message}\n`);
    return undefined;
  } finally {
    for (const t of keep) t.dispose();
  }
}
