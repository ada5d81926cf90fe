import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
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

  /** Moves every staged file into the output folder. */
  async commit(): Promise<void> {
    if (!this.staging) return;
    await mkdir(this.dir, { recursive: true });
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

/** A file-system-safe name for a layer ('fire2/squeeze1x1' -> 'fire2_squeeze1x1'). */
export function safeName(layer: string): string {
  return layer.replace(/[^A-Za-z0-9_.-]+/g, '_');
}
