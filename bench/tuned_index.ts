/** Rewrites src/kernels/wgsl/tuned/index.ts so that it imports every table in that folder (Node). */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function writeTableIndex(dir: string): void {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  const lines = [
    '// Written by `npm run tune` (bench/tune.ts): every committed tuning table, imported',
    '// statically so that bundles (the bench, the web page) carry them too.',
    "import type { TuningTable } from '../tuning.ts';",
    ...files.map((f, i) => `import t${i} from './${f}' with { type: 'json' };`),
    '',
    `export const TUNING_TABLES: TuningTable[] = [${files.map((_, i) => `t${i} as TuningTable`).join(', ')}];`,
  ];
  writeFileSync(join(dir, 'index.ts'), `${lines.join('\n')}\n`);
}
