/**
 * A fuzz worker: runs the real command line (src/cli/main.ts) in this process, one
 * case at a time, read as JSON lines on stdin ({ id, argv }); answers on stdout with
 * { id, code, stdout, stderr, ms }. The parent (fuzz/run.ts) restarts it when it dies
 * (a crash) or stops answering (a hang).
 */
import { createInterface } from 'node:readline';
import { main } from '../src/cli/main.ts';
import { releaseHdf5Memory } from '../src/models/keras/hdf5_file.ts';

const realOut = process.stdout.write.bind(process.stdout);
// (sent before any case patches process.stdout.write)
const send = (o: unknown) => realOut(`${JSON.stringify(o)}\n`);

async function runCase(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  // only the streams are patched: console.* (and Emscripten's bound copies of it) write through them
  const outWrite = process.stdout.write;
  const errWrite = process.stderr.write;
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await main(argv);
    return { code, stdout, stderr };
  } catch (e) {
    // main() reports every failure itself; reaching here is an escaped exception
    return { code: 99, stdout, stderr: `${stderr}UNCAUGHT ${(e as Error).stack ?? e}` };
  } finally {
    process.stdout.write = outWrite;
    process.stderr.write = errWrite;
  }
}

let n = 0;
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  const { id, argv } = JSON.parse(line) as { id: number; argv: string[] };
  const t0 = performance.now();
  const r = await runCase(argv);
  send({ id, ...r, ms: Math.round(performance.now() - t0) });
  if (++n % 50 === 0) releaseHdf5Memory(); // h5wasm's heap only grows: start fresh now and then
}
process.exit(0);
