// Written by `npm run tune` (bench/tune.ts): every committed tuning table, imported
// statically so that bundles (the bench, the web page) carry them too.
import type { TuningTable } from '../tuning.ts';
import t0 from './google-swiftshader.browser-x2.json' with { type: 'json' };
import t1 from './mesa-software-llvmpipe-llvm-15-0-6-256-bits-llvmpipe-mesa-25.amd-epyc-x2.json' with { type: 'json' };
import t2 from './mesa-software-llvmpipe-llvm-15-0-6-256-bits-llvmpipe-mesa-25.intel-r-xeon-r-processor-x2.json' with { type: 'json' };

export const TUNING_TABLES: TuningTable[] = [t0 as TuningTable, t1 as TuningTable, t2 as TuningTable];
