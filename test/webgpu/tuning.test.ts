import { afterAll, describe, expect, it } from 'vitest';
import { TUNING_TABLES } from '../../src/kernels/wgsl/tuned/index.ts';
import { adapterSlug, loadTuningFor, tunedTapDefault, tunedTapTiling, useTuningTable } from '../../src/kernels/wgsl/tuning.ts';

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
    expect(new Set(TUNING_TABLES.map((t) => adapterSlug(t.adapter))).size).toBe(TUNING_TABLES.length);
  });

  it('an adapter without a table gets none', () => {
    expect(loadTuningFor('some vendor / some gpu [node (dawn)]')).toBe(false);
  });
});
