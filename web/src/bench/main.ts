/**
 * The benchmark page (web/bench.html): the kernel benchmark of `npm run bench` on this
 * browser's own WebGPU adapter, against @tensorflow/tfjs-backend-webgpu in the same page. It
 * shows the table and the GFLOP/s chart (bench/report.ts, the same renderers as Node) and
 * offers the JSON (the shape `npm run bench` writes) for download. `npm run bench:browser`
 * drives the same page in headless Chromium through window.convscopeBench.
 */
import * as cs from '../../../src/index.ts';
import type { WebGPUBackend } from '../../../src/kernels/wgsl/backend.ts';
import { markdownTable, svgChart, type BenchResults } from '../../../bench/report.ts';
import { pageItems, runBench, type BenchOptions } from './runner.ts';
import { tuningInfo } from '../../../bench/tuning_info.ts';
import { tuneAdapter, type TuneOptions } from './tune.ts';
import type { TuningTable } from '../../../src/kernels/wgsl/tuning.ts';

declare global {
  interface Window {
    convscopeBench: {
      ready: boolean;
      adapter: () => Promise<{ describe: string; tuning: ReturnType<typeof tuningInfo>; subgroupSize?: number }>;
      run: (o?: BenchOptions) => Promise<BenchResults>;
      tune: (o?: TuneOptions) => Promise<TuningTable>;
      render: (r: BenchResults) => void;
      /** the engine itself, for experiments from the console */
      cs: typeof cs;
    };
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T | null;

function log(line: string): void {
  console.log(line);
  const el = $('log');
  if (el) {
    el.textContent += `${line}\n`;
    el.scrollTop = el.scrollHeight;
  }
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The markdown table as HTML (pipe tables and paragraphs only: what markdownTable writes). */
function markdownToHtml(md: string): string {
  const out: string[] = [];
  const lines = md.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].startsWith('|')) {
      const rows: string[][] = [];
      while (i < lines.length && lines[i].startsWith('|')) rows.push(lines[i++].slice(1, -1).split('|').map((c) => c.trim()));
      i--;
      const [head, , ...body] = rows;
      out.push(`<table><thead><tr>${head.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>${body.map((r) => `<tr>${r.map((c, k) => `<td${k > 1 ? ' class="num"' : ''}>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`);
    } else if (lines[i].trim()) out.push(`<p>${esc(lines[i])}</p>`);
  }
  return out.join('\n');
}

let last: BenchResults | undefined;

function render(r: BenchResults): void {
  last = r;
  const table = $('table');
  if (table) table.innerHTML = markdownToHtml(markdownTable(r));
  const chart = $('chart');
  if (chart) chart.innerHTML = svgChart(r);
  const dl = $<HTMLButtonElement>('download');
  if (dl) dl.disabled = false;
}

function download(name: string, text: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

const slugOf = (r: BenchResults) =>
  [r.adapter.vendor, r.adapter.architecture, r.adapter.description || r.adapter.device].filter(Boolean).join('-').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60) || 'adapter';

async function adapter() {
  if (!navigator.gpu) throw new Error('this browser has no WebGPU (navigator.gpu is missing; Chromium in headless mode needs --enable-unsafe-webgpu)');
  const gpu = (await cs.setBackend('webgpu')) as WebGPUBackend;
  return { describe: gpu.describe(), tuning: tuningInfo(gpu), subgroupSize: gpu.ctx.subgroupSize };
}

window.convscopeBench = { ready: true, adapter, run: runBench, tune: tuneAdapter, render, cs };

// ---- the page's controls (absent when the runner drives a bare page) ----
let cancel = false;
async function wire(): Promise<void> {
  const runBtn = $<HTMLButtonElement>('run');
  if (!runBtn) return;
  const items = $<HTMLSelectElement>('items')!;
  for (const i of pageItems()) items.add(new Option(`${i.name} (${i.shape})`, i.name));
  try {
    const a = await adapter();
    $('adapter')!.textContent = `${a.describe}; convscope's tiles: ${a.tuning.source}${a.tuning.table ? ` (committed table ${a.tuning.table}${a.tuning.tableCpu ? `, measured on '${a.tuning.tableCpu}', this is '${a.tuning.cpu}'` : ''}, adapter key '${a.tuning.adapterKey}')` : ` (no committed table for adapter key '${a.tuning.adapterKey}')`}`;
  } catch (e) {
    $('adapter')!.textContent = (e as Error).message;
    runBtn.disabled = true;
    return;
  }
  runBtn.onclick = async () => {
    const chosen = Array.from(items.selectedOptions).map((o) => o.value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    const filter = ($<HTMLInputElement>('only')!.value || (chosen.length ? `^(${chosen.join('|')})$` : '')) || undefined;
    runBtn.disabled = true;
    $<HTMLButtonElement>('stop')!.disabled = false;
    cancel = false;
    try {
      const r = await runBench({
        only: filter,
        reps: Number($<HTMLInputElement>('reps')!.value) || 3,
        warmup: Number($<HTMLInputElement>('warmup')!.value) || 1,
        size: Number($<HTMLInputElement>('size')!.value) || 224,
        log,
        cancelled: () => cancel,
      });
      render(r);
    } catch (e) {
      log(`failed: ${(e as Error).message}`);
    } finally {
      runBtn.disabled = false;
      $<HTMLButtonElement>('stop')!.disabled = true;
    }
  };
  $<HTMLButtonElement>('stop')!.onclick = () => {
    cancel = true;
    log('stopping after the current item...');
  };
  $<HTMLButtonElement>('download')!.onclick = () => last && download(`${slugOf(last)}.json`, `${JSON.stringify(last, null, 2)}\n`);
  $<HTMLButtonElement>('tune')!.onclick = async () => {
    const t = await tuneAdapter({ size: Number($<HTMLInputElement>('size')!.value) || 224, log });
    download('tuning-table.json', `${JSON.stringify(t, null, 2)}\n`);
  };
}
void wire();
