import type { Tensor } from '../engine/tensor.ts';
import classIndex from './data/imagenet_class_index.json' with { type: 'json' };

/** One ranked prediction: (index, id, name, probability), as decode_predictions reports them. */
export interface Prediction {
  index: number;
  id: string;
  name: string;
  probability: number;
}

const IMAGENET = classIndex as unknown as Record<string, [string, string]>;

/** The ImageNet class (wordnet id, name) of an index. */
export function imagenetClass(index: number): { id: string; name: string } {
  const c = IMAGENET[String(index)];
  if (!c) throw new Error(`ImageNet has no class ${index} (0..999)`);
  return { id: c[0], name: c[1] };
}

/** The ImageNet class of a WordNet id ('n02504458'), or undefined. */
export function imagenetClassByWnid(wnid: string): { index: number; id: string; name: string } | undefined {
  for (const [i, [id, name]] of Object.entries(IMAGENET)) if (id === wnid) return { index: Number(i), id, name };
  return undefined;
}

/** Finds an ImageNet class by index ('386'), wordnet id ('n02504458') or name ('African_elephant'). */
export function findImagenetClass(query: string): number {
  if (/^\d+$/.test(query) && IMAGENET[query]) return Number(query);
  for (const [i, [id, name]] of Object.entries(IMAGENET)) {
    if (id === query || name.toLowerCase() === query.toLowerCase()) return Number(i);
  }
  const near = Object.values(IMAGENET)
    .map(([, name]) => name)
    .filter((n) => n.toLowerCase().includes(query.toLowerCase()))
    .slice(0, 8);
  throw new Error(`no ImageNet class '${query}'${near.length ? `; did you mean ${near.join(', ')}?` : ' (give an index 0..999, a wordnet id or a class name)'}`);
}

/**
 * Names for the classes of a model's output: ImageNet's for a 1000-way output, and
 * for a single sigmoid unit the two classes it separates (index 0: score 1 - p, index 1: p).
 */
export interface ClassNames {
  count: number;
  name(index: number): { id: string; name: string };
}

export function classNamesFor(outputUnits: number, binaryLabels: [string, string] = ['class_0', 'class_1']): ClassNames {
  if (outputUnits === 1000) return { count: 1000, name: imagenetClass };
  if (outputUnits === 1) return { count: 2, name: (i) => ({ id: String(i), name: binaryLabels[i] ?? `class_${i}` }) };
  return { count: outputUnits, name: (i) => ({ id: String(i), name: `class_${i}` }) };
}

/** Softmax in float64 (max subtracted). */
function softmaxOf(z: number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/**
 * The top-k predictions for each image of a batch of model outputs [batch, classes]. A
 * single sigmoid unit becomes two classes: p for index 1 and 1 - p for index 0. With
 * `logits` (a model that ends without softmax or sigmoid) the probabilities are their softmax.
 */
export async function decodePredictions(output: Tensor, k = 3, names?: ClassNames, o: { logits?: boolean } = {}): Promise<Prediction[][]> {
  if (output.rank !== 2) throw new Error(`decodePredictions: expected [batch, classes], got [${output.shape.join(',')}]`);
  const [batch, units] = output.shape;
  const cn = names ?? classNamesFor(units);
  const v = await output.data();
  const result: Prediction[][] = [];
  for (let b = 0; b < batch; b++) {
    let probs = units === 1 ? [1 - v[b], v[b]] : Array.from(v.subarray(b * units, (b + 1) * units));
    if (o.logits) probs = units === 1 ? [1 / (1 + Math.exp(v[b])), 1 / (1 + Math.exp(-v[b]))] : softmaxOf(probs);
    const order = probs.map((p, i) => [p, i] as const).sort((a, c) => c[0] - a[0] || a[1] - c[1]);
    result.push(order.slice(0, Math.min(k, probs.length)).map(([p, i]) => ({ index: i, ...cn.name(i), probability: p })));
  }
  return result;
}
