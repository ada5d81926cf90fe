#!/usr/bin/env node
// `npm run bench`: bundles bench/run.ts with esbuild (TensorFlow.js's ES build needs a
// bundler's module resolution) and runs it; arguments are passed through. With --cold it
// runs bench/cold.ts instead (fresh processes with empty shader caches).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cold = process.argv.includes('--cold');
const entry = cold ? 'cold' : 'run';
const outfile = `${root}bench/.build/${entry}.mjs`;
await build({
  entryPoints: [`${root}bench/${entry}.ts`],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile,
  logLevel: 'error',
  // native addon and wasm-backed packages stay outside the bundle
  external: ['webgpu', 'h5wasm', 'h5wasm/*'],
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fu } from 'node:url'; import { dirname as __dn } from 'node:path'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);",
  },
  define: { 'import.meta.dirname': JSON.stringify(`${root}bench`) },
});
const r = spawnSync(process.execPath, [outfile, ...process.argv.slice(2).filter((a) => a !== '--cold')], { stdio: 'inherit' });
process.exit(r.status ?? 1);
