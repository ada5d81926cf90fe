/**
 * A seeded sample of the fuzz harness (fuzz/run.ts; `npm run fuzz` runs the full
 * 10,000 model files and 1,000 images): damaged and unusual inputs through the real
 * command line, in worker processes. Every case must end in a clean refusal (one
 * line naming the file, no internal words) or a sane acceptance: no crash, no hang,
 * no unclear message, no wrong output.
 */
import { describe, expect, it } from 'vitest';
import { formatTable, runFuzz } from '../../fuzz/run.ts';

describe('fuzzing the command line (seeded sample)', () => {
  it('300 model files and 100 images: every outcome is a clean refusal or a sane acceptance', async () => {
    const s = await runFuzz({ seed: 20261202, models: 300, images: 100, timeoutS: 600, timeLimitS: 3600 });
    expect(s.cases).toBe(400);
    expect(s.failures.map((f) => `${f.outcome} #${f.id} ${f.kind}: ${f.what}: ${f.why}`), formatTable(s)).toEqual([]);
    // the sample reaches every kind of input, and some of each are accepted or refused as they should
    expect(Object.keys(s.byKind).sort()).toEqual(['h5 bytes', 'image', 'keras archive', 'keras config', 'tfjs model', 'weights']);
    for (const [k, v] of Object.entries(s.byKind)) expect(v.refused, k).toBeGreaterThan(0);
  });
  it('the classifier can fail: an internal message, two lines, or a missing file name are unclear', async () => {
    const { classify } = await import('../../fuzz/classify.ts');
    expect(classify(1, '', "convscope summary: x.h5: Cannot read properties of undefined (reading 'shape')\n", 'x.h5').outcome).toBe('unclear');
    expect(classify(1, '', 'HDF5-DIAG: Error detected\nconvscope summary: x.h5: bad\n', 'x.h5').outcome).toBe('unclear');
    expect(classify(1, '', 'convscope summary: layer d: bad\n', 'x.h5').outcome).toBe('unclear');
    expect(classify(1, '', 'convscope summary: x.h5: not a model file\n', 'x.h5').outcome).toBe('refused');
    expect(classify(0, '  1. cat: NaN\n', '', 'x.png', (o) => (o.includes('NaN') ? 'NaN' : undefined)).outcome).toBe('wrong');
  });
});
