/** Paths shared by the Keras loading tests. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is test/models/keras_helpers.ts). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function findFixtures(): string {
  const candidates = [
    process.env.CONVSCOPE_FIXTURES,
    path.resolve(repoRoot, '..', 'shared', 'fixtures'),
    fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url)),
    '/work/shared/fixtures',
  ].filter((p): p is string => !!p);
  for (const c of candidates) if (fs.existsSync(path.join(c, 'keras'))) return c;
  throw new Error(`fixtures not found; tried ${candidates.join(', ')}`);
}

/** The shared fixtures directory (…/shared/fixtures). */
export const fixturesDir = findFixtures();

/** A file in fixtures/keras/. */
export function kerasFixture(name: string): string {
  return path.join(fixturesDir, 'keras', name);
}

/** test/.generated/<sub> (git-ignored), created on demand. */
export function generatedDir(sub: string): string {
  const d = path.join(repoRoot, 'test', '.generated', sub);
  fs.mkdirSync(d, { recursive: true });
  return d;
}
