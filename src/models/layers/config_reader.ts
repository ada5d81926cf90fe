/**
 * Typed reads of one layer's raw Keras config. Every read checks the value
 * where it is read and, when it is wrong, throws one {@link KerasFileError}
 * naming the file, the layer, its class and the key: "layer 'conv2d_1'
 * (Conv2D): strides must be positive integers, got [0, 0]".
 */
import { KerasFileError } from '../keras/errors.ts';
import type { Pair, Padding, Shape } from '../keras/spec.ts';
import { ACTIVATION_NAMES, type ActivationName } from './activation_functions.ts';

type Json = Record<string, unknown>;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Where a config comes from, for messages and version-dependent defaults. */
export interface ReaderContext {
  fileName?: string;
  kerasVersion?: string;
  backend?: string;
}

const show = (v: unknown) => JSON.stringify(v) ?? String(v);

export class ConfigReader {
  constructor(
    /** The layer's raw config (as written, `__tuple__` objects already unwrapped). */
    readonly raw: Json,
    readonly layerName: string,
    readonly className: string,
    readonly ctx: ReaderContext,
  ) {}

  /** Keras major version that wrote the file (2 when unknown). */
  get kerasMajor(): number {
    const m = /^(\d+)/.exec(this.ctx.kerasVersion ?? '');
    return m ? Number(m[1]) : 2;
  }

  fail(msg: string): never {
    throw new KerasFileError(`layer '${this.layerName}' (${this.className}): ${msg}`, this.ctx.fileName);
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  get(key: string): unknown {
    return this.raw[key];
  }

  /** The first of several keys (a Keras 1 name and its Keras 2 successor) that is set. */
  pick(...keys: string[]): string | undefined {
    return keys.find((k) => this.has(k));
  }

  number(key: string, def?: number, o: { min?: number; max?: number; minExclusive?: boolean } = {}): number {
    const v = this.raw[key] ?? def;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      return this.fail(v === undefined || v === null ? `the config has no '${key}'` : `${key} must be a number, got ${show(v)}`);
    }
    if (o.min !== undefined && (o.minExclusive ? v <= o.min : v < o.min)) this.fail(`${key} must be ${o.minExclusive ? 'above' : 'at least'} ${o.min}, got ${v}`);
    if (o.max !== undefined && v > o.max) this.fail(`${key} must be at most ${o.max}, got ${v}`);
    return v;
  }

  optionalNumber(key: string): number | null {
    return this.has(key) ? this.number(key) : null;
  }

  int(key: string, def?: number, min = -Infinity): number {
    const v = this.raw[key] ?? def;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      return this.fail(v === undefined || v === null ? `the config has no '${key}'` : `${key} must be an integer, got ${show(v)}`);
    }
    if (v < min) this.fail(`${key} must be ${min === 1 ? 'a positive integer' : `an integer of at least ${min}`}, got ${v}`);
    return v;
  }

  positiveInt(key: string, def?: number): number {
    return this.int(key, def, 1);
  }

  /** An integer or two integers (rows, cols), each at least `min` (default 1). */
  pair(key: string, def?: Pair | number, min = 1): Pair {
    let v = this.raw[key];
    if (v === undefined || v === null) v = def;
    let p: unknown[] | undefined;
    if (typeof v === 'number') p = [v, v];
    else if (Array.isArray(v) && v.length === 2) p = v;
    else if (Array.isArray(v) && v.length === 1) p = [v[0], v[0]];
    if (!p) return this.fail(v === undefined ? `the config has no '${key}'` : `${key} must be an integer or two integers, got ${show(v)}`);
    if (!p.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= min)) {
      this.fail(`${key} must be ${min === 1 ? 'positive integers' : `integers of at least ${min}`}, got ${show(v)}`);
    }
    return [p[0] as number, p[1] as number];
  }

  bool(key: string, def: boolean): boolean {
    const v = this.raw[key];
    if (v === undefined || v === null) return def;
    if (typeof v !== 'boolean') this.fail(`${key} must be true or false, got ${show(v)}`);
    return v;
  }

  string(key: string, def?: string): string {
    const v = this.raw[key] ?? def;
    if (typeof v !== 'string') return this.fail(v === undefined ? `the config has no '${key}'` : `${key} must be a string, got ${show(v)}`);
    return v;
  }

  /** A string from a fixed set (compared case-insensitively, returned as listed). */
  oneOf<T extends string>(key: string, allowed: readonly T[], def?: T): T {
    const v = this.raw[key] ?? def;
    const found = typeof v === 'string' ? allowed.find((a) => a.toLowerCase() === v.toLowerCase()) : undefined;
    if (found === undefined) this.fail(`${key} ${show(v)} is not supported (${allowed.map((a) => `'${a}'`).join(' or ')})`);
    return found;
  }

  padding(key = 'padding', def: Padding = 'valid'): Padding {
    const v = this.raw[key] ?? def;
    if (typeof v === 'string' && v.toLowerCase() === 'causal') this.fail(`padding 'causal' is for 1-D convolutions; only 'valid' and 'same' exist in 2-D`);
    return this.oneOf(key, ['valid', 'same'] as const, def);
  }

  /** An activation given by name (or by Keras 3's serialised object), normalised to this project's names. */
  activation(key = 'activation'): ActivationName {
    const v = this.raw[key];
    let name: unknown = v;
    if (v === undefined || v === null) name = 'linear';
    else if (isObject(v)) name = typeof v.config === 'string' ? v.config : (v.registered_name ?? v.class_name);
    if (typeof name === 'string') {
      let n = name.toLowerCase();
      if (n === 'hard_sigmoid' && this.kerasMajor >= 3) n = 'hard_sigmoid_v3';
      if (n === 'hard_silu') n = 'hard_swish';
      if ((ACTIVATION_NAMES as readonly string[]).includes(n)) return n as ActivationName;
    }
    return this.fail(
      `activation ${show(v)} is not supported (supported: ${ACTIVATION_NAMES.filter((a) => a !== 'hard_sigmoid_v3').join(', ')})`,
    );
  }

  /** 'channels_last' or 'channels_first' from `data_format` (Keras 2+) or `dim_ordering` (Keras 1). */
  dataFormat(): 'channels_last' | 'channels_first' {
    const df = this.raw.data_format;
    if (df !== undefined && df !== null) {
      if (df === 'channels_last' || df === 'channels_first') return df;
      this.fail(`data_format ${show(df)} is not supported ('channels_last' or 'channels_first')`);
    }
    const dim = this.raw.dim_ordering;
    if (dim === undefined || dim === null || dim === 'tf') return 'channels_last';
    if (dim === 'default' && this.ctx.backend !== 'theano') return 'channels_last';
    return this.fail(`dim_ordering '${String(dim)}' (channels first) is not supported; only 'tf' dim ordering can be loaded`);
  }

  /** A list of integers or nulls (a shape without or with the batch axis). */
  shape(key: string): Shape {
    const v = this.raw[key];
    if (!Array.isArray(v) || !v.every((x) => x === null || (typeof x === 'number' && Number.isInteger(x) && x >= 0))) {
      this.fail(`${key} must be a list of non-negative integers or nulls, got ${show(v)}`);
    }
    return v as Shape;
  }

  /** A list of numbers (one number becomes a list of one). */
  numbers(key: string): number[] {
    const v = this.raw[key];
    const list = typeof v === 'number' ? [v] : v;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      this.fail(`${key} must be a list of numbers, got ${show(v)}`);
    }
    return list as number[];
  }

  /** An axis as an integer (a list of one axis is unwrapped). */
  axis(key = 'axis', def = -1): number {
    let v = this.raw[key] ?? def;
    if (Array.isArray(v)) {
      if (v.length !== 1) this.fail(`${key} ${show(v)}: several axes are not supported here`);
      v = v[0];
    }
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(`${key} must be an integer, got ${show(v)}`);
    return v;
  }
}

/** Replaces the `{"class_name": "__tuple__", "items": [...]}` objects SavedModel metadata writes with their items. */
export function unwrapTuples(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(unwrapTuples);
  if (isObject(v)) {
    if (v.class_name === '__tuple__' && Array.isArray(v.items)) return v.items.map(unwrapTuples);
    const out: Json = {};
    for (const [k, x] of Object.entries(v)) out[k] = unwrapTuples(x);
    return out;
  }
  return v;
}
