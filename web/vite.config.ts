/**
 * The web page's build: `npm run build` -> web/dist/, a static folder any static host serves.
 *
 * - root is web/; index.html is the app, bench.html (the Benchmark tab, another part of the
 *   project) is a second page when it exists.
 * - Photos are decoded by the library (src/viz/image_decode.ts: fast-png, and libjpeg-turbo's
 *   decoder in WebAssembly, whose mozjpeg_dec.wasm the bundle ships through the package's own
 *   new URL(..., import.meta.url)); PNG downloads are encoded with canvas.toBlob.
 * - webgpu (Dawn for Node, which src/validate/reference.ts imports where there is no
 *   navigator.gpu) is aliased to a stub that says the browser has no WebGPU.
 * - The Validate tab's worker (src/validate_worker.ts, TF.js) is its own chunk; the
 *   tfjs-backend-wasm .wasm files it imports with ?url are emitted as assets.
 * - The bundled demo files (assets/) are copied into dist/demo/ after the bundle is written.
 */
import { defineConfig } from 'vite';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const assets = path.resolve(here, '../assets');

/** The files the page offers as demos (the page's DEMOS list names these paths under demo/). */
export const DEMO_FILES = [
  'cats_and_dogs_small_1.h5',
  'squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5',
  'tiny_darknet',
  'chelsea_cat.png',
  'dog_on_beach.jpg',
  'creative_commons_elephant.jpg',
  'README.md',
];

const input: Record<string, string> = { main: path.join(here, 'index.html') };
if (fs.existsSync(path.join(here, 'bench.html'))) input.bench = path.join(here, 'bench.html');

export default defineConfig({
  root: here,
  base: './',
  logLevel: 'warn',
  resolve: { alias: { webgpu: path.join(here, 'src/shims/webgpu.ts') } },
  worker: { format: 'es' },
  build: {
    outDir: path.join(here, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 8000,
    rollupOptions: { input },
  },
  plugins: [
    {
      name: 'convscope-demo-files',
      apply: 'build',
      closeBundle() {
        const out = path.join(here, 'dist/demo');
        fs.mkdirSync(out, { recursive: true });
        for (const f of DEMO_FILES) fs.cpSync(path.join(assets, f), path.join(out, f), { recursive: true });
      },
    },
  ],
});
