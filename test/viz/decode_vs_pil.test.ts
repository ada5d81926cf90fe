/**
 * Decoded pixels equal PIL's, bit for bit: PIL (Debian's python3-pil, installed by
 * scripts/setup.sh; it decodes JPEG with the system libjpeg-turbo) runs in this test,
 * writes JPEGs and PNGs of many kinds and the RGB bytes it reads back from each with
 * `Image.open(f).convert('RGB')` (what Keras' load_img does), and we decode the same
 * files. Tolerance: none (every byte equal), except CMYK JPEGs, which libjpeg cannot
 * turn into RGB and jpeg-js decodes: within 1 grey level (its IDCT rounds differently).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/viz/image_decode.ts';
import { fixturesDir } from '../models/keras_helpers.ts';

/** Debian's interpreter, where python3-pil lives (the PATH's python3 may be another one). */
const PYTHON = '/usr/bin/python3';

const SCRIPT = String.raw`
import json, os, sys
from PIL import Image, features
out, photos = sys.argv[1], sys.argv[2]
made = []
def save(im, name, **kw):
    f = os.path.join(out, name)
    im.save(f, **kw)
    made.append(name)
cat = Image.open(os.path.join(photos, 'chelsea_cat.png')).convert('RGB')
odd = cat.crop((3, 5, 3 + 227, 5 + 151))  # sizes that are not multiples of the 8 or 16 pixel blocks
for label, im in (('cat', cat), ('odd', odd), ('gray', cat.convert('L'))):
    for q in (30, 75, 95):
        for ss in (0, 1, 2):  # 4:4:4, 4:2:2, 4:2:0
            if label == 'gray' and ss: continue
            for prog in (False, True):
                save(im, f'{label}_q{q}_s{ss}_{"prog" if prog else "base"}.jpg', quality=q, subsampling=ss, progressive=prog)
save(odd, 'restart_markers.jpg', quality=80, restart_marker_blocks=4)
save(odd, 'optimized_huffman.jpg', quality=80, optimize=True)
ex = Image.Exif(); ex[0x0112] = 6  # EXIF "rotate 90": PIL's open and Keras ignore it
save(odd, 'exif_orientation_6.jpg', quality=90, exif=ex.tobytes())
save(odd.convert('CMYK'), 'cmyk.jpg', quality=90)
# PNGs of every colour type and bit depth
small = odd.resize((61, 37))
save(small, 'rgb8.png')
save(small.convert('RGBA'), 'rgba8.png')
save(small.convert('L'), 'gray8.png')
save(small.convert('LA'), 'gray_alpha8.png')
save(small.convert('1'), 'gray1.png')
for bits in (1, 2, 4):
    save(small.convert('P', palette=Image.ADAPTIVE, colors=2 ** bits), f'palette{bits}.png', bits=bits)
save(small.convert('P', palette=Image.ADAPTIVE, colors=200), 'palette8.png')
g16 = Image.frombytes('I;16', small.size, bytes((i * 7919) % 256 for i in range(small.size[0] * small.size[1] * 2)))
save(g16, 'gray16.png')
# damaged copies of the elephant: bytes changed, cut out or inserted inside the scan
import random
g = open(os.path.join(photos, 'creative_commons_elephant.jpg'), 'rb').read()
sos = g.find(b'\xff\xda')
r = random.Random(3)
damaged = {}
for i in range(60):
    b = bytearray(g)
    p = r.randrange(sos + 20, len(b) - 2)
    if i % 3 == 0:
        for _ in range(r.randint(1, 8)):
            b[r.randrange(sos + 20, len(b) - 2)] = r.randrange(256)
    elif i % 3 == 1:
        del b[p:p + r.randint(1, 300)]
    else:
        b[p:p] = bytes(r.randrange(256) for _ in range(r.randint(1, 50)))
    name = f'damaged_{i:02d}.jpg'
    open(os.path.join(out, name), 'wb').write(b)
    try:
        Image.open(os.path.join(out, name)).convert('RGB')
        damaged[name] = 'accepted'
    except Exception as e:
        damaged[name] = 'refused'
rows = {}
for name in made:
    f = os.path.join(out, name)
    im = Image.open(f)
    open(f + '.rgb', 'wb').write(im.convert('RGB').tobytes())
    rows[name] = {'mode': im.mode, 'size': list(im.size)}
for name in ('creative_commons_elephant.jpg', 'dog_on_beach.jpg', 'chelsea_cat.png', 'coffee.png'):
    im = Image.open(os.path.join(photos, name))
    open(os.path.join(out, name + '.rgb'), 'wb').write(im.convert('RGB').tobytes())
    rows['fixture:' + name] = {'mode': im.mode, 'size': list(im.size)}
print(json.dumps({'pil': Image.__version__, 'libjpeg': features.version('jpg'), 'files': rows, 'damaged': damaged}))
`;

interface PilRun {
  pil: string;
  libjpeg: string;
  files: Record<string, { mode: string; size: [number, number] }>;
  damaged: Record<string, 'accepted' | 'refused'>;
}

let dir = '';
let run: PilRun;
const photos = path.join(fixturesDir, 'images');

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'convscope-pil-'));
  let stdout: string;
  try {
    stdout = execFileSync(PYTHON, ['-c', SCRIPT, dir, photos], { encoding: 'utf8' });
  } catch (err) {
    throw new Error(`PIL is needed for this test (Debian's python3-pil; run 'bash scripts/setup.sh'): ${(err as Error).message}`);
  }
  run = JSON.parse(stdout) as PilRun;
});

/** Where our RGB bytes differ from PIL's: count and the largest difference. */
function compare(file: string, expectFile: string): { size: [number, number]; differing: number; maxDiff: number; values: number } {
  const img = decodeImage(new Uint8Array(fs.readFileSync(file)), path.basename(file));
  const want = fs.readFileSync(expectFile);
  expect(img.channels).toBe(3);
  expect(img.data.length).toBe(want.length);
  let differing = 0;
  let maxDiff = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(img.data[i]! - want[i]!);
    if (d) {
      differing++;
      if (d > maxDiff) maxDiff = d;
    }
  }
  return { size: [img.width, img.height], differing, maxDiff, values: want.length };
}

describe('decoded pixels against PIL run in the test', () => {
  it('PIL decodes JPEG with libjpeg-turbo here', () => {
    expect(run.libjpeg).toMatch(/^\d/);
    expect(Object.keys(run.files).length).toBeGreaterThan(50);
  });

  it('every generated JPEG (qualities 30/75/95, 4:4:4 / 4:2:2 / 4:2:0, baseline and progressive, gray, odd sizes, restart markers, optimised Huffman tables, EXIF rotation): bit-identical', () => {
    const jpegs = Object.keys(run.files).filter((n) => n.endsWith('.jpg') && n !== 'cmyk.jpg' && !n.startsWith('fixture:'));
    expect(jpegs.length).toBe(45);
    for (const name of jpegs) {
      const r = compare(path.join(dir, name), path.join(dir, `${name}.rgb`));
      expect({ name, size: r.size, differing: r.differing }).toEqual({ name, size: run.files[name]!.size, differing: 0 });
    }
  });

  it('the fixture photos (two JPEGs, two PNGs): bit-identical', () => {
    for (const name of ['creative_commons_elephant.jpg', 'dog_on_beach.jpg', 'chelsea_cat.png', 'coffee.png']) {
      const r = compare(path.join(photos, name), path.join(dir, `${name}.rgb`));
      expect({ name, differing: r.differing }).toEqual({ name, differing: 0 });
    }
  });

  it('every generated PNG (RGB, RGBA, gray 1/8/16-bit, gray+alpha, palette 1/2/4/8-bit): bit-identical', () => {
    const pngs = Object.keys(run.files).filter((n) => n.endsWith('.png') && !n.startsWith('fixture:'));
    expect(pngs.length).toBe(10);
    for (const name of pngs) {
      const r = compare(path.join(dir, name), path.join(dir, `${name}.rgb`));
      expect({ name, differing: r.differing }).toEqual({ name, differing: 0 });
    }
  });

  it('60 damaged JPEGs (bytes changed, cut or inserted in the scan): accepted or refused exactly as PIL does', () => {
    const verdicts = Object.entries(run.damaged);
    expect(verdicts.length).toBe(60);
    // both verdicts occur, so the comparison means something (measured: 58 accepted, 2 refused with seed 3)
    expect(new Set(verdicts.map(([, v]) => v)).size).toBe(2);
    for (const [name, pil] of verdicts) {
      let ours: 'accepted' | 'refused' = 'accepted';
      try {
        decodeImage(new Uint8Array(fs.readFileSync(path.join(dir, name))), name);
      } catch {
        ours = 'refused';
      }
      expect({ name, ours }).toEqual({ name, ours: pil });
    }
    // The pixels of an accepted damaged file equal PIL's above the damage but can differ below it:
    // libjpeg's recovery from damage depends on how the bytes are fed to it (PIL feeds chunks).
  });

  it('a CMYK JPEG (jpeg-js, not libjpeg): within 1 grey level of PIL, and most values equal', () => {
    expect(run.files['cmyk.jpg']!.mode).toBe('CMYK');
    const r = compare(path.join(dir, 'cmyk.jpg'), path.join(dir, 'cmyk.jpg.rgb'));
    expect(r.maxDiff).toBeLessThanOrEqual(1);
    // measured: 6.6% of values one level apart
    expect(r.differing / r.values).toBeLessThan(0.15);
  });
});
