/** Messages between the page (main.ts) and the engine's Web Worker (worker.ts). */

export interface FileBytes {
  name: string;
  bytes: Uint8Array;
}

export type Request =
  | { op: 'init'; backend?: 'webgpu' | 'cpu' }
  | { op: 'openModel'; files: FileBytes[]; arch?: string; labels?: FileBytes; binaryNames?: [string, string] }
  | { op: 'openImage'; file: FileBytes; rgba?: { width: number; height: number; data: Uint8Array } }
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
