/**
 * The page of `bench/tap_ab.ts`: times tap-GEMM tiles on the VGG16 convolution shapes
 * (forward and stride-1 backprop input) of an NxN image on the page's adapter, interleaved
 * (each rep runs every tile once, in turn), and checks each tile's output against the first.
 */
import { WebGPUBackend } from '../src/kernels/wgsl/backend.ts';
import { makeTapGemm, tapTileName, tapTilingFits, type TapGemmSpec, type TapTiling } from '../src/kernels/wgsl/tap_gemm.ts';
import { VGG16_CONVS } from './vgg16_ops.ts';

export interface TapAbOptions {
  size: number;
  tiles: TapTiling[];
  reps: number;
  only?: string;
  /** backprop input rows also run each vec4 tile on the filter read in place (bTransposed), as conv.ts does on those tiles */
  inPlace?: boolean;
}
export interface TapAbRow {
  /** the tuning table's key */
  key: string;
  name: string;
  tiles: { tile: TapTiling; name: string; runs: number[]; median: number; maxRelDiff: number; inPlace?: boolean }[];
}

let gpu: WebGPUBackend | undefined;

/** The tap GEMM of a 3x3 'same' stride-1 convolution (forward) or of its backprop input, as conv.ts builds them. */
function specOf(op: 'conv2d' | 'conv2dBackpropInput', H: number, C: number, F: number): TapGemmSpec {
  return op === 'conv2d'
    ? { M: H * H, N: F, L: C, rows: { RH: H, RW: H, IH: H, IW: H, PIX: C, AOFF: 0, SY: 1, SX: 1, PY: 1, PX: 1, KH: 3, KW: 3, DY: 1, DX: 1 } }
    : { M: H * H, N: C, L: F, rows: { RH: H, RW: H, IH: H, IW: H, PIX: F, AOFF: 0, SY: 1, SX: 1, PY: -1, PX: -1, KH: 3, KW: 3, DY: -1, DX: -1 } };
}

async function tapAb(o: TapAbOptions): Promise<{ adapter: string; cpu: string; rows: TapAbRow[] }> {
  gpu ??= await WebGPUBackend.create();
  const g = gpu;
  const only = o.only ? new RegExp(o.only) : undefined;
  const rows: TapAbRow[] = [];
  const seen = new Set<string>();
  let H = o.size;
  for (const [name, C, F] of VGG16_CONVS) {
    const shapeKey = `${H}:${C}:${F}`;
    const here = H;
    if (/block[12]_conv2|block[345]_conv3/.test(name)) H /= 2;
    if (seen.has(shapeKey)) continue;
    seen.add(shapeKey);
    for (const op of ['conv2d', 'conv2dBackpropInput'] as const) {
      const label = `${op === 'conv2d' ? 'conv2d' : 'backprop input'} ${name}`;
      if (only && !only.test(label)) continue;
      const spec = specOf(op, here, C, F);
      const tiles = o.tiles.filter((t) => tapTilingFits(spec, t, g.ctx.subgroupSize));
      if (tiles.length === 0) continue;
      const key = `${op}:1,${here},${here},${C},${here},${here},${F},3,3,1,1,1,1,1,1`;
      const a = g.upload(Float32Array.from({ length: here * here * spec.L }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5));
      const b = g.upload(Float32Array.from({ length: 9 * spec.L * spec.N }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5));
      const out = g.allocate(here * here * spec.N);
      const ds = tiles.map((t) => makeTapGemm(g, key, { ...spec, tiling: t }, [a.buffer, b.buffer], out.buffer, out.size * 4));
      const row: TapAbRow = { key, name: label, tiles: tiles.map((tile) => ({ tile, name: tapTileName(tile), runs: [], median: 0, maxRelDiff: 0 })) };
      // the same B stored per tap as [N, L] (an HWIO filter's layout), read in place by the vec4 tiles
      let bT: ReturnType<typeof g.upload> | undefined;
      if (o.inPlace && op === 'conv2dBackpropInput') {
        const src = Float32Array.from({ length: 9 * spec.L * spec.N }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
        const tr = new Float32Array(src.length);
        for (let t = 0; t < 9; t++) for (let l = 0; l < spec.L; l++) for (let n = 0; n < spec.N; n++) tr[(t * spec.N + n) * spec.L + l] = src[(t * spec.L + l) * spec.N + n];
        bT = g.upload(tr);
        for (const t of tiles.filter((x) => x.vec4)) {
          const s2 = { ...spec, bTransposed: true, tiling: t };
          if (!tapTilingFits(s2, t, g.ctx.subgroupSize)) continue;
          ds.push(makeTapGemm(g, key, s2, [a.buffer, bT.buffer], out.buffer, out.size * 4));
          row.tiles.push({ tile: t, name: `${tapTileName(t)}+inplace`, runs: [], median: 0, maxRelDiff: 0, inPlace: true });
        }
      }
      let ref: Float32Array | undefined;
      for (let k = 0; k < ds.length; k++) {
        g.dispatch(ds[k]); // the first run compiles
        const r = await g.read(out);
        ref ??= r;
        let e = 0;
        for (let i = 0; i < r.length; i++) e = Math.max(e, Math.abs(r[i] - ref[i]) / (1 + Math.abs(ref[i])));
        row.tiles[k].maxRelDiff = e;
      }
      for (let r = 0; r < o.reps; r++) {
        for (let k = 0; k < ds.length; k++) {
          const t0 = performance.now();
          g.dispatch(ds[k]);
          await g.sync();
          row.tiles[k].runs.push(Math.round((performance.now() - t0) * 10) / 10);
        }
      }
      for (const t of row.tiles) t.median = [...t.runs].sort((x, y) => x - y)[Math.floor(t.runs.length / 2)];
      console.log(`${label.padEnd(32)} ${row.tiles.map((t) => `${t.name} ${t.median.toFixed(0)} (${Math.min(...t.runs).toFixed(0)}-${Math.max(...t.runs).toFixed(0)})`).join(' | ')}`);
      rows.push(row);
      g.release(a);
      g.release(b);
      if (bT) g.release(bT);
      g.release(out);
    }
  }
  return { adapter: g.describe(), cpu: g.cpu, rows };
}

const w = window as unknown as { tapAb: typeof tapAb; tapAbReady: boolean };
w.tapAb = tapAb;
w.tapAbReady = true;
