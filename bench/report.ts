/** Writes the benchmark results as JSON, a markdown table and an SVG bar chart. */
import { slugOf } from '../src/kernels/wgsl/tuning.ts';

export interface PeerResult {
  ms: number;
  /** peer time / our time: above 1, convscope is faster. */
  ratio: number;
  peakBytes?: number;
  /** every measured run, ms (the browser page records them, for the spread) */
  runs?: number[];
}

export interface ItemResult {
  name: string;
  kind: 'kernel' | 'e2e';
  shape: string;
  ms: number;
  gflops: number | null;
  peakBytes?: number;
  /** Distinct pipelines one run uses (convscope, end-to-end items). */
  pipelines?: number;
  /** convscope's measured runs, ms (the browser page records them, for the spread) */
  runs?: number[];
  peers: Record<string, PeerResult | { error: string }>;
}

export interface BenchResults {
  adapter: Record<string, string>;
  date: string;
  versions: Record<string, string>;
  settings: Record<string, unknown>;
  items: ItemResult[];
  /**
   * Where convscope's GEMM tiles came from (bench/tuning_info.ts): the backend's `tuning`
   * ('committed table', 'cache', 'first-use tuning', 'table of another CPU', 'none'), the
   * adapter key and CPU the committed tables are matched on, and the committed table in use,
   * if any (tableCpu: the CPU it was measured on, where that is not this one).
   */
  tuning?: { source: string; adapterKey: string; cpu?: string; table?: string; tableDate?: string; tableCpu?: string; entries: number };
  /** Rows re-measured later with --merge. */
  merged?: { date: string; items: string[] }[];
  /** Cold-start items (bench/cold.ts): fresh processes with empty shader and tuning caches. */
  cold?: { date: string; loadBefore?: string; loadAfter?: string; results: ColdResult[] };
}

export interface ColdResult {
  name: string;
  engine: string;
  /** The first run in the fresh process (with prepareMs inside it where prepareKernels ran first); with several rounds, their median. */
  firstMs: number;
  /** Every round's first run (--rounds). */
  firstRuns?: number[];
  /** Median of the warm runs that followed in the same process (or, for the CLI, of fresh processes with the cache now filled). */
  warmMs: number;
  warmRuns: number[];
  /** firstMs / warmMs. */
  ratio: number;
  /** Distinct pipelines the first run compiled. */
  pipelines?: number;
  prepareMs?: number;
}

const fmtMs = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const fmtMiB = (b: number | undefined) => (b === undefined ? '' : `${(b / 2 ** 20).toFixed(0)} MiB`);

export function markdownTable(r: BenchResults): string {
  const peers = [...new Set(r.items.flatMap((i) => Object.keys(i.peers)))];
  const head = `| item | shape | convscope ms | GFLOP/s | ${peers.map((p) => `${p} ms | ratio`).join(' | ')} |`;
  const sep = `|---|---|---:|---:|${peers.map(() => '---:|---:').join('|')}|`;
  // a peer's failures are footnoted with their reasons (one note per distinct reason)
  const notes: string[] = [];
  const note = (p: string, why: string) => {
    const text = `${p}: ${why.length > 160 ? `${why.slice(0, 157)}...` : why}`;
    if (!notes.includes(text)) notes.push(text);
    return notes.indexOf(text) + 1;
  };
  const rows = r.items.map((i) => {
    const cells = peers.map((p) => {
      const e = i.peers[p];
      if (!e) return ' | ';
      if ('error' in e) return `failed [${note(p, e.error)}] | `;
      return `${fmtMs(e.ms)} | ${e.ratio.toFixed(2)}x`;
    });
    return `| ${i.name} | ${i.shape} | ${fmtMs(i.ms)} | ${i.gflops === null ? '' : i.gflops.toFixed(2)} | ${cells.join(' | ')} |`;
  });
  const mem = r.items
    .filter((i) => i.peakBytes !== undefined)
    .map((i) => `- ${i.name}: peak GPU memory convscope ${fmtMiB(i.peakBytes)}${Object.entries(i.peers).map(([p, e]) => ('peakBytes' in e && e.peakBytes !== undefined ? `, ${p} ${fmtMiB(e.peakBytes)}` : '')).join('')}`);
  const cold = r.cold
    ? [
        '',
        `Cold start (${r.cold.date}; each in a fresh process with empty Mesa shader and convscope tuning caches; load average ${r.cold.loadBefore ?? '?'} before, ${r.cold.loadAfter ?? '?'} after):`,
        '',
        '| item | engine | first run s (median, range) | warm s (median) | first / warm | pipelines compiled |',
        '|---|---|---:|---:|---:|---:|',
        ...r.cold.results.map(
          (c) =>
            `| ${c.name} | ${c.engine} | ${(c.firstMs / 1000).toFixed(1)}${c.firstRuns && c.firstRuns.length > 1 ? ` (${(Math.min(...c.firstRuns) / 1000).toFixed(1)}-${(Math.max(...c.firstRuns) / 1000).toFixed(1)})` : ''}${c.prepareMs !== undefined ? ` (prepare ${(c.prepareMs / 1000).toFixed(1)})` : ''} | ${(c.warmMs / 1000).toFixed(2)} | ${c.ratio.toFixed(1)}x | ${c.pipelines ?? ''} |`,
        ),
      ]
    : [];
  const counted = r.items.filter((i) => i.pipelines !== undefined);
  const pipes = counted.length ? ['', `Distinct pipelines one run uses (convscope): ${counted.map((i) => `${i.name} ${i.pipelines}`).join('; ')}.`] : [];
  const footnotes = notes.length ? ['', ...notes.map((n, k) => `[${k + 1}] ${n}`)] : [];
  const tiles = r.tuning
    ? [
        '',
        `convscope's tiles: ${r.tuning.source}${r.tuning.table ? ` (src/kernels/wgsl/tuned/${r.tuning.table}, measured ${r.tuning.tableDate}${r.tuning.tableCpu ? ` on '${r.tuning.tableCpu}'; this machine is '${r.tuning.cpu}'` : `, matched on adapter key '${r.tuning.adapterKey}'${r.tuning.cpu ? ` and CPU '${r.tuning.cpu}'` : ''}`})` : ` (no committed table for adapter key '${r.tuning.adapterKey}'${r.tuning.cpu ? ` and CPU '${r.tuning.cpu}'` : ''})`}; ${r.tuning.entries} tuned shapes in use.`,
      ]
    : [];
  const spread = (runs: number[] | undefined) => (runs && runs.length > 1 ? `${fmtMs(Math.min(...runs))}-${fmtMs(Math.max(...runs))}` : '');
  const withRuns = r.items.filter((i) => i.runs);
  const spreads = withRuns.length
    ? [
        '',
        'Spread (fastest-slowest measured run, ms):',
        '',
        `| item | convscope | ${peers.join(' | ')} |`,
        `|---|---:|${peers.map(() => '---:|').join('')}`,
        ...withRuns.map((i) => `| ${i.name} | ${spread(i.runs)} | ${peers.map((p) => { const e = i.peers[p]; return e && 'runs' in e ? spread(e.runs) : ''; }).join(' | ')} |`),
      ]
    : [];
  return [
    `Adapter: ${Object.values(r.adapter).filter(Boolean).join(' / ')}; ${r.date}; ${Object.entries(r.versions).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
    `ratio = peer ms / convscope ms (above 1: convscope is faster). Median of ${r.settings.reps} runs after ${r.settings.warmup} warm-up.`,
    '',
    head,
    sep,
    ...rows,
    ...footnotes,
    ...tiles,
    ...spreads,
    '',
    ...mem,
    ...pipes,
    ...cold,
  ].join('\n');
}

/** Grouped bars: GFLOP/s per kernel item, one colour per engine. */
export function svgChart(r: BenchResults): string {
  const items = r.items.filter((i) => i.kind === 'kernel' && i.gflops !== null);
  const engines = ['convscope', ...new Set(items.flatMap((i) => Object.keys(i.peers)))];
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728'];
  const gf = (i: ItemResult, e: string): number => {
    if (e === 'convscope') return i.gflops ?? 0;
    const p = i.peers[e];
    return p && 'ms' in p ? (i.gflops! * i.ms) / p.ms : 0;
  };
  const max = Math.max(1e-9, ...items.flatMap((i) => engines.map((e) => gf(i, e))));
  const rowH = 14 * engines.length + 10;
  const left = 330;
  const width = 900;
  const barW = width - left - 80;
  const height = 40 + items.length * rowH + 30;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="18" font-size="13" font-weight="bold">GFLOP/s per VGG16 kernel shape (${Object.values(r.adapter).filter(Boolean).join(' / ').slice(0, 80)})</text>`,
  ];
  engines.forEach((e, k) => parts.push(`<rect x="${left + k * 150}" y="26" width="10" height="10" fill="${colors[k]}"/><text x="${left + k * 150 + 14}" y="35">${e}</text>`));
  items.forEach((i, n) => {
    const y0 = 45 + n * rowH;
    parts.push(`<text x="${left - 6}" y="${y0 + rowH / 2}" text-anchor="end">${i.name.replace(/&/g, '&amp;')}</text>`);
    engines.forEach((e, k) => {
      const v = gf(i, e);
      const w = (v / max) * barW;
      const label = e !== 'convscope' && i.peers[e] && 'error' in i.peers[e] ? 'failed / not available' : v.toFixed(2);
      parts.push(`<rect x="${left}" y="${y0 + k * 14}" width="${w.toFixed(1)}" height="12" fill="${colors[k]}"/><text x="${left + w + 4}" y="${y0 + k * 14 + 10}">${label}</text>`);
    });
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/**
 * Base name of a results file: the adapter's vendor, architecture and description, then, for
 * a software adapter measured in Node (lavapipe), the CPU model: its figures belong to that
 * processor (bench/results holds one file per machine kind measured).
 */
export function resultsSlug(a: { vendor?: string; architecture?: string; description?: string; device?: string }, cpu?: string): string {
  const base = slugOf([a.vendor, a.architecture, a.description || a.device].filter(Boolean).join('-')).slice(0, 60) || 'adapter';
  return cpu ? `${base}.${slugOf(cpu)}` : base;
}
