/**
 * Generate the Keras files the product cannot download, with deterministic
 * pseudo-random weights:
 *
 *   npx tsx scripts/write_fixtures.ts <outDir> [--small] [--with-top] [--seed N]
 *
 * Writes into <outDir>:
 *   vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5  (VGG16 without top, 58 MB)
 *   cats_and_dogs_small_2.h5                           (Model A, 150x150, full model, 14 MB)
 * and with --with-top also
 *   vgg16_weights_tf_dim_ordering_tf_kernels.h5         (VGG16 with top, 553 MB)
 * --small writes reduced-width variants (names ending in `_small`) for fast tests.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  vgg16WeightsFileName,
  writeSmallConvnetModelFile,
  writeVgg16WeightsFile,
  type WrittenFile,
} from '../src/models/keras/fixture_writer.ts';

function usage(): never {
  console.error('usage: tsx scripts/write_fixtures.ts <outDir> [--small] [--with-top] [--seed N]');
  process.exit(2);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let outDir: string | undefined;
  let small = false;
  let withTop = false;
  let seed = 1234;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--small') small = true;
    else if (a === '--with-top') withTop = true;
    else if (a === '--seed') seed = Number(args[++i]);
    else if (a.startsWith('--')) usage();
    else if (outDir === undefined) outDir = a;
    else usage();
  }
  if (outDir === undefined || !Number.isFinite(seed)) usage();
  fs.mkdirSync(outDir, { recursive: true });
  const widthDivisor = small ? 16 : 1;
  const jobs: [string, () => Promise<WrittenFile>][] = [
    [vgg16WeightsFileName(false, small), () => writeVgg16WeightsFile(path.join(outDir, vgg16WeightsFileName(false, small)), { includeTop: false, seed, widthDivisor })],
    [`cats_and_dogs_small_2${small ? '_small' : ''}.h5`, () => writeSmallConvnetModelFile(path.join(outDir, `cats_and_dogs_small_2${small ? '_small' : ''}.h5`), { seed, widthDivisor })],
  ];
  if (withTop) {
    jobs.push([vgg16WeightsFileName(true, small), () => writeVgg16WeightsFile(path.join(outDir, vgg16WeightsFileName(true, small)), { includeTop: true, seed, widthDivisor })]);
  }
  for (const [name, job] of jobs) {
    const t0 = Date.now();
    const w = await job();
    const mb = fs.statSync(w.path).size / 1e6;
    console.log(`${name}: ${w.params.toLocaleString('en-US')} params, ${mb.toFixed(1)} MB, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
