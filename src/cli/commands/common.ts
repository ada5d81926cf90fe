import { Model } from '../../models/model.ts';
import type { ModelSpec } from '../../models/keras/spec.ts';
import { countParams } from '../../models/keras/summary_shapes.ts';

/** Flags every command accepts. */
export interface CommonFlags {
  json: boolean;
  backend: string;
  out: string;
  arch?: string;
  /** Cut the model after this layer. */
  until?: string;
  /** The output to use when the model has several. */
  output?: string;
  seed: number;
  /** First-use tile tuning where the adapter has no table (false: --no-tune). */
  tune?: boolean;
}

/** What a command hands back: the JSON document (--json) and the lines a person reads. */
export interface CommandResult {
  json: Record<string, unknown>;
  text: string[];
  /** The process's exit status when the command ran to the end (default 0; validate: 1 on a failed comparison). */
  exitCode?: number;
}

export function modelJson(model: Model | ModelSpec, file: string) {
  const spec = model instanceof Model ? model.spec : model;
  const p = countParams(spec);
  const inputShape = model instanceof Model ? model.inputShape : spec.inputShape.slice(1);
  return { name: spec.name, file, layers: spec.layers.length, params: p.total, inputShape };
}

export function round(v: number, digits = 6): number {
  return Number(v.toPrecision(digits));
}
