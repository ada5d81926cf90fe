import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/.generated/**', 'node_modules/**'],
    // Hang guards, not speed checks: a fresh machine with an empty shader cache, one core and
    // another job running took 202 s for VGG16's first forward pass. Speed is measured by bench/.
    testTimeout: 2_700_000,
    hookTimeout: 2_700_000,
    // Dawn and lavapipe each want the whole (2-core) machine: run files one at a time.
    fileParallelism: false,
    reporters: ['default'],
  },
});
