import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/.generated/**', 'node_modules/**'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Dawn and lavapipe each want the whole (2-core) machine: run files one at a time.
    fileParallelism: false,
    reporters: ['default'],
  },
});
