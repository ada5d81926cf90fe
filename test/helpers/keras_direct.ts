import h5wasm from 'h5wasm/node';

/** A weight read straight from the file. */
export interface DirectWeight {
  shape: number[];
  values: Float32Array;
}

/**
 * model_config and every weight of a Keras full-model file, read with h5wasm only
 * (nothing from src/), so that a TF.js model built from it checks our reader too.
 * Weights are keyed by layer, then by role ('conv2d_4/kernel:0' -> 'kernel').
 */
export async function readKerasFileDirectly(path: string): Promise<{ config: object; weights: Map<string, Map<string, DirectWeight>> }> {
  await h5wasm.ready;
  const f = new h5wasm.File(path, 'r');
  try {
    const config = JSON.parse(f.attrs.model_config.value as string) as object;
    const root = f.get('model_weights') as InstanceType<typeof h5wasm.Group>;
    const weights = new Map<string, Map<string, DirectWeight>>();
    for (const layer of root.keys()) {
      const g = root.get(layer) as InstanceType<typeof h5wasm.Group>;
      const names = g.attrs.weight_names?.value;
      const byRole = new Map<string, DirectWeight>();
      if (Array.isArray(names)) {
        for (const n of names as string[]) {
          const ds = g.get(n) as InstanceType<typeof h5wasm.Dataset>;
          byRole.set(n.split('/').pop()!.replace(/:\d+$/, ''), { shape: ds.shape as number[], values: Float32Array.from(ds.value as Float32Array) });
        }
      }
      weights.set(layer, byRole);
    }
    return { config, weights };
  } finally {
    f.close();
  }
}
