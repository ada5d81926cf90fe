/** Regenerates the .md and .svg of a results file (after a change to bench/report.ts): npx tsx bench/rewrite_report.ts FILE.json */
import { readFileSync, writeFileSync } from 'node:fs';
import { markdownTable, svgChart, type BenchResults } from './report.ts';

const file = process.argv[2];
if (!file?.endsWith('.json')) throw new Error('usage: npx tsx bench/rewrite_report.ts bench/results/ADAPTER.json');
const r = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
writeFileSync(file.replace(/\.json$/, '.md'), `${markdownTable(r)}\n`);
writeFileSync(file.replace(/\.json$/, '.svg'), svgChart(r));
