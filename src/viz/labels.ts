/**
 * Class names for any model, from a labels file (`--labels`):
 * - one name per line (Teachable Machine's `labels.txt` writes "0 Cat", "1 Dog":
 *   the leading index is dropped when every line starts with its own);
 * - WordNet ids one per line (`n02504458`: darknet's class order), named
 *   through the ImageNet class index;
 * - a JSON list of names, or a JSON class index `{"0": ["n01440764", "tench"], ...}`
 *   or `{"0": "tench", ...}`.
 */
import { imagenetClassByWnid, type ClassNames } from './predictions.ts';

export interface Labels {
  /** Per class index: its id (the WordNet id when there is one, else the index) and its name. */
  classes: { id: string; name: string }[];
}

export function parseLabels(text: string, fileName: string): Labels {
  const t = text.replace(/^\uFEFF/, '').trim();
  if (t === '') throw new Error(`${fileName}: the labels file is empty`);
  if (t.startsWith('{') || t.startsWith('[')) {
    let j: unknown;
    try {
      j = JSON.parse(t);
    } catch (e) {
      throw new Error(`${fileName}: not valid JSON (${(e as Error).message})`);
    }
    if (Array.isArray(j)) {
      if (!j.every((x) => typeof x === 'string')) throw new Error(`${fileName}: a JSON list of labels must hold strings`);
      return { classes: j.map((name, i) => ({ id: String(i), name })) };
    }
    const obj = j as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (!keys.every((k) => /^\d+$/.test(k))) throw new Error(`${fileName}: a JSON class index needs keys 0, 1, 2, ...`);
    const n = keys.length;
    const classes: Labels['classes'] = [];
    for (let i = 0; i < n; i++) {
      const v = obj[String(i)];
      if (typeof v === 'string') classes.push({ id: String(i), name: v });
      else if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'string')) classes.push({ id: v[0], name: v[1] });
      else throw new Error(`${fileName}: class ${i} is missing or is not a name or [id, name]`);
    }
    return { classes };
  }
  const lines = t.split(/\r?\n/).map((l) => l.trim());
  if (lines.some((l) => l === '')) throw new Error(`${fileName}: line ${lines.indexOf('') + 1} is empty (one label per line)`);
  if (lines.every((l) => /^n\d{8}$/.test(l))) {
    return {
      classes: lines.map((wnid, i) => {
        const c = imagenetClassByWnid(wnid);
        if (!c) throw new Error(`${fileName}: line ${i + 1}: '${wnid}' is not an ImageNet WordNet id`);
        return { id: wnid, name: c.name };
      }),
    };
  }
  const indexed = lines.every((l, i) => new RegExp(`^${i}\\s+\\S`).test(l));
  return { classes: lines.map((l, i) => ({ id: String(i), name: indexed ? l.replace(/^\d+\s+/, '') : l })) };
}

/** Class names from labels, checked against the model's output width (a single sigmoid unit has two classes). */
export function labelClassNames(labels: Labels, outputUnits: number, fileName: string): ClassNames {
  const count = outputUnits === 1 ? 2 : outputUnits;
  if (labels.classes.length !== count) {
    throw new Error(`${fileName}: ${labels.classes.length} labels for a model with ${count} classes`);
  }
  return { count, name: (i) => labels.classes[i] };
}
