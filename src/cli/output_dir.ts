import { access, constants, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

/**
 * Files of one run are written to a hidden staging folder beside the output folder
 * and moved into it only when the whole run succeeded: a failed run leaves nothing
 * half-written in the output folder.
 */
export class OutputDir {
  readonly dir: string;
  private staging: string | undefined;
  readonly written: string[] = [];

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  /**
   * An output folder checked before any work: it must be a folder (or not exist yet,
   * under a folder that can be written to). A bad --out fails in a second, not after
   * minutes of computing.
   */
  static async prepare(dir: string): Promise<OutputDir> {
    const o = new OutputDir(dir);
    const s = await stat(o.dir).catch(() => undefined);
    if (s && !s.isDirectory()) throw new OutputError(`--out '${dir}' exists and is not a folder`);
    let parent = s ? o.dir : dirname(o.dir);
    // the nearest existing ancestor must be a folder we can write to
    for (;;) {
      const p = await stat(parent).catch(() => undefined);
      if (p) {
        if (!p.isDirectory()) throw new OutputError(`--out '${dir}': '${parent}' is a file, not a folder`);
        break;
      }
      const up = dirname(parent);
      if (up === parent) break;
      parent = up;
    }
    try {
      await access(parent, constants.W_OK);
    } catch {
      throw new OutputError(`--out '${dir}': cannot write to '${parent}' (permission denied)`);
    }
    return o;
  }

  private async stage(): Promise<string> {
    if (!this.staging) {
      await mkdir(dirname(this.dir), { recursive: true });
      this.staging = await mkdtemp(join(dirname(this.dir), '.convscope-staging-'));
    }
    return this.staging;
  }

  /** Writes a file (name relative to the output folder); returns its final path. */
  async write(name: string, data: Uint8Array | string): Promise<string> {
    const path = join(await this.stage(), name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, data);
    const final = join(this.dir, name);
    this.written.push(final);
    return final;
  }

  /** Moves every staged file into the output folder: all of them, or none when a name is taken by a folder. */
  async commit(): Promise<void> {
    if (!this.staging) return;
    await mkdir(this.dir, { recursive: true });
    const check = async (from: string, to: string) => {
      for (const e of await readdir(from, { withFileTypes: true })) {
        const target = await stat(join(to, e.name)).catch(() => undefined);
        if (!target) continue;
        if (e.isDirectory() && !target.isDirectory()) throw new OutputError(`cannot write into '${join(to, e.name)}': a file of that name is in the way`);
        if (!e.isDirectory() && target.isDirectory()) throw new OutputError(`cannot write '${join(to, e.name)}': a folder of that name is in the way`);
        if (e.isDirectory()) await check(join(from, e.name), join(to, e.name));
      }
    };
    try {
      await check(this.staging, this.dir);
    } catch (e) {
      await this.abort();
      throw e;
    }
    const move = async (from: string, to: string) => {
      for (const e of await readdir(from, { withFileTypes: true })) {
        if (e.isDirectory()) {
          await mkdir(join(to, e.name), { recursive: true });
          await move(join(from, e.name), join(to, e.name));
        } else await rename(join(from, e.name), join(to, e.name));
      }
    };
    await move(this.staging, this.dir);
    await rm(this.staging, { recursive: true, force: true });
    this.staging = undefined;
  }

  /** Discards whatever was staged. */
  async abort(): Promise<void> {
    if (this.staging) await rm(this.staging, { recursive: true, force: true });
    this.staging = undefined;
    this.written.length = 0;
  }
}

/** A problem with the output folder, reported as a usage error (exit 2). */
export class OutputError extends Error {}

/** A file-system-safe name for a layer ('fire2/squeeze1x1' -> 'fire2_squeeze1x1'). */
export function safeName(layer: string): string {
  return layer.replace(/[^A-Za-z0-9_.-]+/g, '_');
}
