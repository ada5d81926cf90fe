/** Median-of-repeats timing; the function must only resolve once its GPU work is complete. */
export interface Timing {
  ms: number;
  runs: number[];
}

export async function timeIt(fn: () => Promise<void>, o: { warmup: number; reps: number; budgetMs?: number }): Promise<Timing> {
  for (let i = 0; i < o.warmup; i++) await fn();
  const runs: number[] = [];
  const start = performance.now();
  for (let i = 0; i < o.reps; i++) {
    const t = performance.now();
    await fn();
    runs.push(performance.now() - t);
    // stop early on very slow items, but always keep at least one measured run
    if (o.budgetMs !== undefined && performance.now() - start > o.budgetMs) break;
  }
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const ms = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { ms, runs };
}
