import { afterAll, describe, expect, it } from 'vitest';
import { TUNING_TABLES } from '../../src/kernels/wgsl/tuned/index.ts';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTuningFor, tableFileName, tunedTapDefault, tunedTapTiling, useTuningTable } from '../../src/kernels/wgsl/tuning.ts';

// The tile tables are imported statically (not read from disk next to the module), so a
// bundle such as the benchmark's carries them: an earlier version looked for them beside
// the bundle, found none, and benchmarked the untuned defaults without saying so.
describe('committed tuning tables', () => {
  afterAll(() => useTuningTable({ adapter: '', date: '', tilings: {} }));

  it('every table in src/kernels/wgsl/tuned is imported and found by its adapter description', () => {
    expect(TUNING_TABLES.length).toBeGreaterThan(0);
    for (const t of TUNING_TABLES) {
      expect(loadTuningFor(`${t.adapter} [some runtime]`, t.cpu), t.adapter).toBe(true);
      expect(tunedTapDefault()).toEqual(t.tapDefault);
      const [key, tile] = Object.entries(t.tilings).find(([, v]) => 'WG' in v) ?? [];
      if (key) expect(tunedTapTiling(key)).toEqual(tile);
    }
    // one table per adapter (and CPU model, for a software adapter), each in the file named for it
    const names = TUNING_TABLES.map((t) => tableFileName(t));
    expect(new Set(names).size).toBe(TUNING_TABLES.length);
    const dir = fileURLToPath(new URL('../../src/kernels/wgsl/tuned/', import.meta.url));
    for (const [i, t] of TUNING_TABLES.entries()) {
      expect(JSON.parse(readFileSync(join(dir, names[i]), 'utf8')).date, names[i]).toBe(t.date);
    }
    expect(readdirSync(dir).filter((f) => f.endsWith('.json')).sort()).toEqual([...names].sort());
  });

  it('an adapter without a table gets none', () => {
    expect(loadTuningFor('some vendor / some gpu [node (dawn)]')).toBe(false);
  });
});
