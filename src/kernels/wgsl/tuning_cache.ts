import type { TuningTable } from './tuning.ts';

/**
 * Where first-use tuning results live between runs:
 *
 *   Node     $CONVSCOPE_CACHE_DIR/tuning/<adapter>-<hash>.json, where CONVSCOPE_CACHE_DIR defaults
 *            to $XDG_CACHE_HOME/convscope, else ~/.cache/convscope
 *   browser  IndexedDB database 'convscope', object store 'tuning', the same name as key
 *
 * One entry per adapter description and CPU model (the hash in the name covers both, the
 * slug is for people). An entry records the hash of the kernel sources it measured; one
 * written for other sources (an older convscope) is ignored and, on the next tuning, replaced.
 * CONVSCOPE_TUNING_CACHE=off neither reads nor writes it.
 */

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

function env(name: string): string | undefined {
  return isNode ? process.env[name] : undefined;
}

function cacheOff(): boolean {
  return env('CONVSCOPE_TUNING_CACHE') === 'off';
}

/** FNV-1a, 32 bits, as 8 hex digits. */
export function hash32(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** The CPU model string (Node: os.cpus(); a browser only tells its thread count). */
export async function cpuModel(): Promise<string> {
  if (isNode) {
    const mod = 'node:os';
    const os = (await import(/* @vite-ignore */ mod)) as typeof import('node:os');
    const cpus = os.cpus();
    return `${cpus[0]?.model?.trim() ?? 'unknown cpu'} x${cpus.length}`;
  }
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return `browser x${n ?? '?'}`;
}

/** Node's cache folder (undefined in a browser). */
export async function tuningCacheDir(): Promise<string | undefined> {
  if (!isNode) return undefined;
  const explicit = env('CONVSCOPE_CACHE_DIR');
  if (explicit) return explicit;
  const mod = 'node:os';
  const os = (await import(/* @vite-ignore */ mod)) as typeof import('node:os');
  const base = env('XDG_CACHE_HOME') || `${os.homedir()}/.cache`;
  return `${base}/convscope`;
}

export function cacheKey(adapter: string, cpu: string): string {
  const slug = adapter.toLowerCase().replace(/\[.*?\]/g, '').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 48) || 'adapter';
  return `${slug}-${hash32(`${adapter}\n${cpu}`)}`;
}

async function nodeFile(key: string): Promise<string | undefined> {
  const dir = await tuningCacheDir();
  return dir ? `${dir}/tuning/${key}.json` : undefined;
}

function idb(): IDBFactory | undefined {
  return (globalThis as { indexedDB?: IDBFactory }).indexedDB;
}

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const r = idb()!.open('convscope', 1);
    r.onupgradeneeded = () => r.result.createObjectStore('tuning');
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** The cached table for this adapter and CPU measured with kernel sources of this hash, if any. */
export async function loadCachedTable(adapter: string, cpu: string, sourceHash: string): Promise<TuningTable | undefined> {
  if (cacheOff()) return undefined;
  const key = cacheKey(adapter, cpu);
  let t: TuningTable | undefined;
  try {
    if (isNode) {
      const file = await nodeFile(key);
      const mod = 'node:fs/promises';
      const fs = (await import(/* @vite-ignore */ mod)) as typeof import('node:fs/promises');
      t = JSON.parse(await fs.readFile(file!, 'utf8')) as TuningTable;
    } else if (idb()) {
      const db = await openDb();
      t = await new Promise<TuningTable | undefined>((resolve, reject) => {
        const r = db.transaction('tuning', 'readonly').objectStore('tuning').get(key);
        r.onsuccess = () => resolve(r.result as TuningTable | undefined);
        r.onerror = () => reject(r.error);
      });
      db.close();
    }
  } catch {
    return undefined; // none yet, unreadable, or not JSON: as if there were none
  }
  if (!t || typeof t !== 'object' || typeof t.tilings !== 'object' || t.sourceHash !== sourceHash || t.adapter !== adapter || t.cpu !== cpu) return undefined;
  return t;
}

/** Stores a table (its adapter, cpu and sourceHash set); failures to write are not errors. */
export async function saveCachedTable(t: TuningTable): Promise<string | undefined> {
  if (cacheOff() || !t.cpu || !t.sourceHash) return undefined;
  const key = cacheKey(t.adapter, t.cpu);
  try {
    if (isNode) {
      const file = (await nodeFile(key))!;
      const mod = 'node:fs/promises';
      const fs = (await import(/* @vite-ignore */ mod)) as typeof import('node:fs/promises');
      await fs.mkdir(file.slice(0, file.lastIndexOf('/')), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await fs.writeFile(tmp, `${JSON.stringify(t, null, 2)}\n`);
      await fs.rename(tmp, file); // whole or not at all, even with two processes tuning at once
      return file;
    }
    if (idb()) {
      const db = await openDb();
      await new Promise<void>((resolve, reject) => {
        const tx = db.transaction('tuning', 'readwrite');
        tx.objectStore('tuning').put(t, key);
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
      });
      db.close();
      return `indexedDB:convscope/tuning/${key}`;
    }
  } catch {
    // a read-only home or a private window: the tuning is only lost for the next run
  }
  return undefined;
}
