/** Messages between the page (main.ts) and the engine's Web Worker (worker.ts). */

export interface FileBytes {
  name: string;
  bytes: Uint8Array;
}

export type Request =
  | { op: 'init'; backend?: 'webgpu' | 'cpu' }
  | { op: 'openModel'; files: FileBytes[]; arch?: string; labels?: FileBytes; binaryNames?: [string, string] }
  /** The weights-only file the last openModel kept (it answered needsArch), with its architecture now. */
  | { op: 'chooseArch'; arch: string }
  /** What the Validate tab's worker needs: copies of the model's files, and the input tensor as made from the photo. */
  | { op: 'validationInput'; withPhoto: boolean }
  | { op: 'openImage'; file: FileBytes }
  | { op: 'predict' }
  | { op: 'activations'; layer: string; gradClass?: number; score?: 'prob' | 'logit' }
  | { op: 'filters'; layer: string; filters: number[]; steps: number; size: number; seed: number; init?: 'noise' | 'gray' }
  | { op: 'setPreprocess'; mode?: string }
  | { op: 'gradcam'; layer?: string; classIndex?: number; score: 'prob' | 'logit' }
  | { op: 'memory' }
  | { op: 'loseDevice' };

/** Sent outside request/response: pause, resume and cancel of a filter run. */
export type Control = { control: 'pause' | 'resume' | 'cancel' };

export interface Memory {
  liveBytes: number;
  numTensors: number;
}

export interface LayerRow {
  name: string;
  className: string;
  shape: (number | null)[];
  spatial: boolean;
  conv: boolean;
}

export interface ModelInfo {
  name: string;
  file: string;
  summary: string;
  /** The preprocessing in use (the model's default unless chosen). */
  preprocess: string;
  inputShape: (number | null)[];
  layers: LayerRow[];
  classes: number;
  classNames: string[];
  defaultCamLayer?: string;
  defaultActLayer?: string;
}

/** openModel's answer for a file with weights but no architecture (no model config). */
export interface NeedsArch {
  needsArch: {
    file: string;
    /** The built-in architectures (the names the CLI's --arch takes). */
    architectures: string[];
    message: string;
  };
}

export interface ValidationInput {
  files: FileBytes[];
  main: string;
  arch?: string;
  input?: Float32Array;
  inputShape?: number[];
  inputName?: string;
  engine: 'webgpu' | 'cpu';
}

/** To the Validate tab's worker (validate_worker.ts): what the engine's worker gave (no input: validate's seeded random one), and the run's choices. */
export interface ValidateRequest extends ValidationInput {
  reference: 'tfjs-wasm' | 'tfjs-webgpu' | 'tfjs-cpu';
  steps: number;
  seed: number;
  /** The ascent's filter of the last convolution: a number (the CLI: 0) or the first live one. */
  filter: number | 'live';
  score: 'prob' | 'logit';
}

export type ValidateEvent =
  | { event: 'progress'; done: number; total: number; phase: string }
  | { event: 'done'; json: Record<string, unknown>; text: string[]; engine: string; engineNote?: string }
  | { event: 'error'; message: string }
  /** The worker's module has run and it listens (sent once, first). */
  | { event: 'listening' };

export interface PredictionRow {
  index: number;
  id: string;
  name: string;
  probability: number;
}

export interface Reply {
  id: number;
  ok: boolean;
  error?: string;
  /** The device was lost during this call: the next call gets a new one. */
  deviceLost?: boolean;
  result?: unknown;
  memory?: Memory;
}

export interface StepEvent {
  id: number;
  event: 'step';
  step: number;
  steps: number;
  /** losses[filter k][step s] so far. */
  losses: number[][];
  grid: { width: number; height: number; data: Uint8Array };
  memory: Memory;
}
