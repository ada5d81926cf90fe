import { defaultPreprocess, loadInput, parseList, UsageError, wholeNumber } from '../context.ts';
import { BUILTIN_ARCHITECTURES, readModelFile } from '../../models/load_model.ts';
import { Model } from '../../models/model.ts';
import type { PreprocessMode } from '../../viz/preprocess.ts';
import { storedKerasConfig } from '../../validate/keras_config.ts';
import type { ReferenceName } from '../../validate/reference.ts';
import type { ValidationRow } from '../../validate/validate.ts';
import { modelJson, type CommandResult, type CommonFlags } from './common.ts';

export interface ValidateFlags extends CommonFlags {
  layers?: string;
  steps: number;
  reference: string;
  layer?: string;
  filterLayer?: string;
  size?: number;
  preprocess?: string;
}

const jsonRow = (r: ValidationRow) => ({ ...r, ...(r.maxAbs !== undefined && !Number.isFinite(r.maxAbs) ? { maxAbs: String(r.maxAbs), maxRel: String(r.maxRel) } : {}) });

/**
 * `convscope validate MODEL [IMAGE]`: see src/validate/validate.ts. Exit status 1 when a
 * row fails, 3 when nothing failed but some rows could not be compared.
 */
const REFERENCES = ['tfjs-wasm', 'tfjs-cpu', 'tfjs-webgpu'];

/** TF.js is an optional dependency, loaded only here. */
async function loadValidator() {
  try {
    return await import('../../validate/validate.ts');
  } catch (e) {
    if (/@tensorflow\/tfjs/.test(String((e as Error).message))) {
      throw new UsageError(
        'validate needs TensorFlow.js, an optional dependency that is not installed: npm install @tensorflow/tfjs-core @tensorflow/tfjs-layers @tensorflow/tfjs-backend-cpu @tensorflow/tfjs-backend-wasm @tensorflow/tfjs-backend-webgpu',
      );
    }
    throw e;
  }
}

export async function validateCommand(modelPath: string, imagePath: string | undefined, f: ValidateFlags): Promise<CommandResult> {
  if (!REFERENCES.includes(f.reference)) throw new UsageError(`--reference must be one of ${REFERENCES.join(', ')}; got '${f.reference}'`);
  const steps = wholeNumber(f.steps, '--steps', 0, 10_000)!;
  const size = wholeNumber(f.size, '--size', 8, 1024);
  if (f.arch && !(BUILTIN_ARCHITECTURES as readonly string[]).includes(f.arch) && !f.arch.endsWith('.json')) {
    throw new UsageError(`--arch must be one of ${BUILTIN_ARCHITECTURES.join(', ')} or a Keras JSON config file (.json); got '${f.arch}'`);
  }
  const read = await readModelFile(modelPath, { arch: f.arch, until: f.until, output: f.output });
  const config = await storedKerasConfig(modelPath, f.arch).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
  let input: Float32Array | undefined;
  let inputShape: number[] | undefined;
  if (imagePath !== undefined) {
    // the photo exactly as the other commands read it (Keras load_img at the model's size, then the preprocessing)
    const m = new Model(read.spec, read.weights);
    try {
      const x = await loadInput(m, imagePath, (f.preprocess ?? defaultPreprocess(f.arch, m)) as PreprocessMode);
      input = Float32Array.from(await x.tensor.data());
      inputShape = x.tensor.shape.slice(1);
      x.tensor.dispose();
    } finally {
      m.dispose();
    }
  }
  const { formatReport, validateModel } = await loadValidator();
  const report = await validateModel(read, config, {
    reference: f.reference as ReferenceName,
    layers: parseList(f.layers),
    steps,
    input,
    inputShape,
    seed: f.seed,
    gradcamLayer: f.layer,
    ascentLayer: f.filterLayer,
    size,
  });
  if (imagePath !== undefined) report.input = imagePath;
  const exitCode = !report.passed ? 1 : report.complete ? 0 : 3;
  return {
    json: { command: 'validate', ...report, model: modelJson(read.spec, modelPath), rows: report.rows.map(jsonRow), exitCode },
    text: formatReport(report),
    exitCode,
  };
}
