/**
 * A nested model's weights in a legacy `.h5` file sit in the group of the
 * outer layer (`model_weights/sequential_1`), with `weight_names` that start
 * with each inner layer's own name (`Conv1/kernel:0`, `bn_Conv1/gamma:0`),
 * trainable weights first and the moving statistics at the end. This splits
 * such a group over the flattened inner layers (`sequential_1/.../Conv1`).
 */
import { KerasFileError } from './errors.ts';
import type { ModelSpec, WeightArray } from './spec.ts';
import type { LayerInfo } from './summary_shapes.ts';

/** The layer part of a stored weight name: 'Conv1/kernel:0' -> 'Conv1', 'a/b/kernel:0' -> 'b'. */
function ownerOf(weightName: string): string {
  const parts = weightName.split('/');
  return parts.length >= 2 ? parts[parts.length - 2] : '';
}

const leaf = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/**
 * Returns the file's weights keyed by spec layer names: top-level entries as
 * they are, and each nested model's group split over its inner layers (by the
 * inner layer names in `weight_names`; by order when those names differ).
 */
export function distributeNestedWeights(
  spec: ModelSpec,
  infos: LayerInfo[],
  weights: Map<string, WeightArray[]>,
  fileName?: string,
): Map<string, WeightArray[]> {
  const nestedTops = new Set(spec.layers.filter((l) => l.scope).map((l) => l.scope![0]));
  if (nestedTops.size === 0) return weights;
  const out = new Map(weights);
  for (const top of nestedTops) {
    const stored = weights.get(top);
    if (!stored) continue;
    out.delete(top);
    const inner = infos.filter((i) => i.layer.scope?.[0] === top && i.weights.length > 0);
    const groups = new Map<string, WeightArray[]>();
    for (const w of stored) {
      const o = ownerOf(w.name);
      groups.set(o, [...(groups.get(o) ?? []), w]);
    }
    const byLeaf = inner.every((i) => groups.has(leaf(i.layer.name)));
    if (byLeaf) {
      for (const i of inner) out.set(i.layer.name, groups.get(leaf(i.layer.name))!);
      continue;
    }
    const ordered = [...groups.values()];
    if (ordered.length !== inner.length) {
      const missing = inner.filter((i) => !groups.has(leaf(i.layer.name))).map((i) => i.layer.name);
      throw new KerasFileError(
        `nested model '${top}': the file holds weights for ${ordered.length} inner layer(s) but the model has ${inner.length} with weights` +
          (missing.length ? `; none are stored for ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}` : ''),
        fileName,
      );
    }
    inner.forEach((i, k) => out.set(i.layer.name, ordered[k]));
  }
  return out;
}
