/**
 * `npm run fuzz`: feeds the real command line seeded damaged and unusual inputs and
 * classifies every outcome (clean refusal, accepted, crash, hang, unclear message,
 * wrong output). Cases run in worker processes (fuzz/worker.ts) so a crash or a
 * hang costs one case, not the run. Bounded by count and by time.
 *
 *   npm run fuzz -- [--models 10000] [--images 1000] [--seed 1] [--timeout 60] [--time-limit 3600] [--json out.json]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { classify, type Outcome } from './classify.ts';
import { fuzzCases, type FuzzCase } from './cases.ts';

export interface FuzzResult {
  id: number;
  kind: string;
  what: string;
  argv: string[];
  outcome: Outcome;
  why?: string;
  message?: string;
  ms: number;
}

export interface FuzzSummary {
  seed: number;
  cases: number;
  byKind: Record<string, Record<Outcome, number>>;
  failures: FuzzResult[];
  seconds: number;
  stoppedByTimeLimit: boolean;
}

const OUTCOMES: Outcome[] = ['refused', 'accepted', 'crash', 'hang', 'unclear', 'wrong'];

class Worker {
  private proc: ChildProcess;
  private waiting = new Map<number, (r: { code: number; stdout: string; stderr: string; ms: number }) => void>();
  dead = false;
  constructor() {
    this.proc = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'worker.ts')], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, CONVSCOPE_FUZZ: '1' } });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      let m: { id: number; code: number; stdout: string; stderr: string; ms: number };
      try {
        m = JSON.parse(line);
      } catch {
        return; // native code printed to stdout
      }
      this.waiting.get(m.id)?.(m);
      this.waiting.delete(m.id);
    });
    this.proc.stderr!.on('data', () => {});
    this.proc.on('exit', () => {
      this.dead = true;
      for (const f of this.waiting.values()) f({ code: -1, stdout: '', stderr: 'worker died', ms: 0 });
      this.waiting.clear();
    });
  }
  run(id: number, argv: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string; ms: number } | 'hang'> {
    return new Promise((done) => {
      const t = setTimeout(() => {
        this.waiting.delete(id);
        this.kill();
        done('hang');
      }, timeoutMs);
      this.waiting.set(id, (r) => {
        clearTimeout(t);
        done(r);
      });
      this.proc.stdin!.write(`${JSON.stringify({ id, argv })}\n`);
    });
  }
  kill(): void {
    this.dead = true;
    this.proc.kill('SIGKILL');
  }
}

/** Runs the cases one after another; returns the tally and every failure. */
export async function runFuzz(o: { seed: number; models: number; images: number; timeoutS: number; timeLimitS: number; onResult?: (r: FuzzResult, done: number, total: number) => void }): Promise<FuzzSummary> {
  const cases = fuzzCases(o.seed, o.models, o.images);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'convscope-fuzz-'));
  const t0 = Date.now();
  const byKind: FuzzSummary['byKind'] = {};
  const failures: FuzzResult[] = [];
  let worker = new Worker();
  let done = 0;
  let stopped = false;
  try {
    for (const c of cases) {
      if ((Date.now() - t0) / 1000 > o.timeLimitS) {
        stopped = true;
        break;
      }
      const r = await runOne(c, dir, () => {
        if (worker.dead) worker = new Worker();
        return worker;
      }, o.timeoutS);
      byKind[c.kind] ??= Object.fromEntries(OUTCOMES.map((k) => [k, 0])) as Record<Outcome, number>;
      byKind[c.kind][r.outcome]++;
      if (!['refused', 'accepted'].includes(r.outcome)) failures.push(r);
      done++;
      o.onResult?.(r, done, cases.length);
    }
  } finally {
    worker.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { seed: o.seed, cases: done, byKind, failures, seconds: Math.round((Date.now() - t0) / 1000), stoppedByTimeLimit: stopped };
}

async function runOne(c: FuzzCase, dir: string, getWorker: () => Worker, timeoutS: number): Promise<FuzzResult> {
  const caseDir = path.join(dir, String(c.id));
  fs.mkdirSync(caseDir);
  try {
    let argv: string[];
    try {
      argv = await c.make(caseDir);
    } catch (e) {
      // a case the generator itself cannot write (e.g. h5wasm refusing a shape) is no test of the product
      return { id: c.id, kind: c.kind, what: `${c.what} (not written: ${(e as Error).message.slice(0, 120)})`, argv: [], outcome: 'refused', ms: 0 };
    }
    const w = getWorker();
    const r = await w.run(c.id, argv, timeoutS * 1000);
    if (r === 'hang') return { id: c.id, kind: c.kind, what: c.what, argv, outcome: 'hang', why: `no answer in ${timeoutS} s`, ms: timeoutS * 1000 };
    if (r.code === -1) return { id: c.id, kind: c.kind, what: c.what, argv, outcome: 'crash', why: 'the process died', ms: r.ms };
    // the file the case is about: the damaged one (the last argument under the scratch folder)
    const file = [...argv].reverse().find((a) => a.startsWith(caseDir)) ?? argv[1];
    const k = classify(r.code, r.stdout, r.stderr, path.basename(file), c.checkAccepted);
    return { id: c.id, kind: c.kind, what: c.what, argv, outcome: k.outcome, why: k.why, message: r.stderr.trim().split('\n')[0]?.slice(0, 300), ms: r.ms };
  } finally {
    fs.rmSync(caseDir, { recursive: true, force: true });
  }
}

/** The README table: one row per kind of input. */
export function formatTable(s: FuzzSummary): string {
  const rows = Object.entries(s.byKind).map(([k, v]) => `| ${k} | ${OUTCOMES.map((o) => v[o]).join(' | ')} |`);
  return [`| input | ${OUTCOMES.join(' | ')} |`, `|---|${OUTCOMES.map(() => '---:').join('|')}|`, ...rows].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: '10000' },
      images: { type: 'string', default: '1000' },
      seed: { type: 'string', default: '1' },
      timeout: { type: 'string', default: '60' },
      'time-limit': { type: 'string', default: '7200' },
      json: { type: 'string' },
    },
  });
  const s = await runFuzz({
    seed: Number(values.seed),
    models: Number(values.models),
    images: Number(values.images),
    timeoutS: Number(values.timeout),
    timeLimitS: Number(values['time-limit']),
    onResult: (r, done, total) => {
      if (!['refused', 'accepted'].includes(r.outcome)) console.log(`${r.outcome.toUpperCase()} #${r.id} ${r.kind}: ${r.what}\n    ${r.argv.join(' ')}\n    ${r.why}`);
      if (done % 100 === 0) process.stderr.write(`${done}/${total}\n`);
    },
  });
  console.log(`\nseed ${s.seed}: ${s.cases} cases in ${s.seconds} s${s.stoppedByTimeLimit ? ' (stopped by --time-limit)' : ''}\n`);
  console.log(formatTable(s));
  if (values.json) fs.writeFileSync(values.json, JSON.stringify(s, null, 2));
  process.exit(s.failures.length ? 1 : 0);
}
