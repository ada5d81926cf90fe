import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixturesDir } from '../models/keras_helpers.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/convscope.mjs');
const MNIST3 = join(fixturesDir, 'keras', 'users', 'mnist_keras3.keras');
const CAT = join(ROOT, 'assets/chelsea_cat.png');
const BN = join(fixturesDir, 'keras', 'keras2_cnn_batch_norm.h5');

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, maxBuffer: 64 << 20, timeout: 600_000 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('convscope validate', () => {
  it('--json on a real file: every row passes, exit 0', async () => {
    const r = await run(['validate', MNIST3, '--backend', 'cpu', '--steps', '3', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.command).toBe('validate');
    expect(j.reference).toBe('tfjs-wasm');
    expect(j.passed).toBe(true);
    expect(j.model.params).toBe(225_034);
    expect(j.rows.length).toBe(13);
    expect(j.rows.every((x: { status: string }) => x.status === 'pass')).toBe(true);
  }, 120_000);

  it('with an image (read as the other commands read it), text rows and the verdict', async () => {
    const r = await run(['validate', MNIST3, CAT, '--backend', 'cpu', '--steps', '0', '--layers', 'conv2d,dense_1']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/against TensorFlow\.js \(tfjs-wasm, tfjs-core \d+\.\d+\.\d+\), input: .*chelsea_cat\.png/);
    expect(lines.filter((l) => /^PASS +layer/.test(l)).length).toBe(2);
    expect(lines.at(-1)).toMatch(/^PASS: 5 rows within tolerance/);
  }, 120_000);

  it("--reference tfjs-webgpu on convscope's webgpu backend (the default): TF.js on the same Dawn instance, every row passes", async () => {
    // the ascent on conv2d_1 (filter 0 of the last convolution, conv2d_2, is dead on this input: its loss is 0 at every step)
    const r = await run(['validate', BN, '--reference', 'tfjs-webgpu', '--filter-layer', 'conv2d_1', '--steps', '3', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.reference).toBe('tfjs-webgpu');
    expect(j.backend).toMatch(/node \(dawn\)/);
    expect(j.versions.adapter).toMatch(/through convscope's Dawn instance/);
    expect(j.rows.length).toBe(11);
    expect(j.rows.filter((x: { status: string }) => x.status !== 'pass')).toEqual([]);
    const loss = j.rows.find((x: { kind: string }) => x.kind === 'ascent-loss');
    expect(loss.note).toMatch(/ours: -25\.63\d+ /);
  }, 300_000);

  it('bad flags: one line, exit 2', async () => {
    const a = await run(['validate', MNIST3, '--reference', 'tfjs-node']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--reference must be one of tfjs-wasm, tfjs-cpu, tfjs-webgpu; got 'tfjs-node'/);
    const b = await run(['validate']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/expected MODEL \[IMAGE\], got nothing/);
  }, 120_000);
});
