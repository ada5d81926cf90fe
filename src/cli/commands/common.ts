import type { Model } from '../../models/model.ts';
import { countParams } from '../../models/keras/summary_shapes.ts';

/** Flags every command accepts. */
export interface CommonFlags {
  json: boolean;
  backend: string;
  out: string;
  arch?: string;
  seed: number;
}

/** What a command hands back: the JSON document (--json) and the lines a person reads. */
export interface CommandResult {
  json: Record<string, unknown>;
  text: string[];
}

export function modelJson(model: Model, file: string) {
  const p = countParams(model.spec);
  return { name: model.name, file, layers: model.layerNames.length, params: p.total, inputShape: model.inputShape };
}

export function round(v: number, digits = 6): number {
  return Number(v.toPrecision(digits));
}
