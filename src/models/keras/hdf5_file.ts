/**
 * Opening HDF5 files with h5wasm, and reading the attribute shapes Keras
 * writes, robustly.
 *
 * Two h5wasm builds are used:
 * - a path (Node only) opens through `h5wasm/node`, whose file system is the
 *   host's (NODERAWFS), so a 553 MB file is read dataset by dataset;
 * - bytes (ArrayBuffer / Uint8Array) go into the in-memory file system
 *   (MEMFS) of the plain `h5wasm` ESM build, exactly as in a browser; that
 *   build also runs in Node, so the browser path is tested there.
 *
 * Files are always closed and temporary MEMFS files always unlinked
 * (try/finally). Before opening, the HDF5 signature and the superblock's
 * end-of-file address are checked in JS, so a non-HDF5 or truncated file
 * gives one clear message instead of HDF5's diagnostic dump; so are the
 * global heap collections, whose damage can make the library loop forever.
 * While a file is read, HDF5 errors throw (h5wasm's throwing handler) and
 * become {@link KerasFileError}s; a crash of the wasm code (abort, trap) on
 * a corrupt file does too, and the next read gets a fresh wasm instance.
 */
import type { Dataset, File as H5File, Group } from 'h5wasm';
import { KerasFileError } from './spec.ts';
import { halfToFloat } from './float16.ts';

/** The h5wasm module namespace (both builds share this API). */
export type H5Lib = typeof import('h5wasm').default;
/** What `await h5.ready` returns (the Emscripten module with `FS`). */
export type H5Module = Awaited<H5Lib['ready']>;
/** An HDF5 object that carries attributes. */
export type H5Object = Group | Dataset;
export type { Dataset as H5Dataset, Group as H5Group, H5File };

/** Where a file comes from: a host path (Node), or its bytes. */
export type Hdf5Source = string | ArrayBuffer | Uint8Array;

interface Loaded {
  h5: H5Lib;
  module: H5Module;
}

type LibKind = 'node' | 'memory';
const SPECIFIERS: Record<LibKind, string> = { node: 'h5wasm/node', memory: 'h5wasm' };
const libs: Record<LibKind, Promise<Loaded> | undefined> = { node: undefined, memory: undefined };
let instanceCounter = 0;

/** A URL that evaluates h5wasm once more (same file, another query): a new wasm instance. */
function freshUrl(kind: LibKind): string | undefined {
  const resolve = (import.meta as { resolve?: (s: string) => string }).resolve;
  if (typeof resolve !== 'function') return undefined;
  try {
    return `${resolve(SPECIFIERS[kind])}?instance=${++instanceCounter}`;
  } catch {
    return undefined;
  }
}

async function load(kind: LibKind, fresh: boolean): Promise<Loaded> {
  let mod: { default: H5Lib };
  const url = fresh ? freshUrl(kind) : undefined;
  if (url !== undefined) mod = (await import(/* @vite-ignore */ url)) as { default: H5Lib };
  else if (kind === 'memory') mod = await import('h5wasm');
  else {
    // A variable specifier keeps bundlers from pulling the Node build into a browser bundle.
    const nodeBuild = SPECIFIERS.node;
    mod = (await import(/* @vite-ignore */ nodeBuild)) as { default: H5Lib };
  }
  const h5 = mod.default;
  const module = await h5.ready;
  return { h5, module };
}

const loadedOnce: Record<LibKind, boolean> = { node: false, memory: false };

function lib(kind: LibKind): Promise<Loaded> {
  if (!libs[kind]) {
    libs[kind] = load(kind, loadedOnce[kind]);
    loadedOnce[kind] = true;
  }
  return libs[kind];
}

/** After the wasm code aborted (or left a file open), its state is not trusted: the next call gets a fresh instance. */
function retire(kind: LibKind): void {
  libs[kind] = undefined;
}

/**
 * Drop the h5wasm instances (their wasm memory, which never shrinks: about
 * 1 GB after reading VGG16 with top, goes with them); the next read starts
 * fresh ones. Needs `import.meta.resolve` (Node 20, modern browsers);
 * without it the same instances are kept.
 */
export function releaseHdf5Memory(): void {
  retire('node');
  retire('memory');
}

/** The h5wasm build that reads and writes host paths (Node only). */
export function h5wasmNode(): Promise<Loaded> {
  return lib('node');
}

/** The h5wasm build with an in-memory file system (browser, and Node for bytes). */
export function h5wasmMemory(): Promise<Loaded> {
  return lib('memory');
}

/** Context given to the callback of {@link withHdf5File}. */
export interface Hdf5Context {
  /** The open file (read-only). */
  file: H5File;
  /** Name used in error messages. */
  fileName: string;
}

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
let tempCounter = 0;

/** Random access to the first bytes of a file (for the header check). */
interface ByteReader {
  size: number;
  read(offset: number, length: number): Uint8Array;
}

/**
 * Check that the bytes are an HDF5 file and not truncated: the 8-byte
 * signature at 0, 512, 1024, 2048, ... (HDF5 allows a user block), then the
 * superblock's end-of-file address against the real size. Throws a
 * {@link KerasFileError} naming the file.
 */
function checkHeader(reader: ByteReader, fileName: string): { sizeOfLengths: number } | undefined {
  if (reader.size < HDF5_SIGNATURE.length) {
    throw new KerasFileError(
      `not an HDF5 file (only ${reader.size} bytes; a Keras .h5 file starts with the HDF5 signature)`,
      fileName,
    );
  }
  let at = -1;
  for (let offset = 0; offset + 8 <= reader.size; offset = offset === 0 ? 512 : offset * 2) {
    const sig = reader.read(offset, 8);
    if (HDF5_SIGNATURE.every((b, i) => sig[i] === b)) {
      at = offset;
      break;
    }
  }
  if (at < 0) {
    throw new KerasFileError('not an HDF5 file (no HDF5 signature found)', fileName);
  }
  const head = reader.read(at, Math.min(96, reader.size - at));
  const version = head[8];
  let sizeOfOffsets: number;
  let eofPos: number;
  if (version === 0 || version === 1) {
    sizeOfOffsets = head[13];
    eofPos = (version === 0 ? 24 : 28) + 2 * sizeOfOffsets;
  } else if (version === 2 || version === 3) {
    sizeOfOffsets = head[9];
    eofPos = 12 + 2 * sizeOfOffsets;
  } else {
    return undefined; // unknown superblock version: let the HDF5 library judge
  }
  const sizeOfLengths = version <= 1 ? head[14] : head[10];
  if (![2, 4, 8].includes(sizeOfOffsets) || eofPos + sizeOfOffsets > head.length) {
    throw new KerasFileError(
      `truncated or corrupt HDF5 file (the superblock is incomplete: ${reader.size} bytes)`,
      fileName,
    );
  }
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const readAddr = (pos: number): number | undefined => {
    if (sizeOfOffsets === 2) return view.getUint16(pos, true);
    if (sizeOfOffsets === 4) {
      const v = view.getUint32(pos, true);
      return v === 0xffffffff ? undefined : v;
    }
    const v = view.getBigUint64(pos, true);
    return v === 0xffffffffffffffffn ? undefined : Number(v);
  };
  const base = readAddr(eofPos - 2 * sizeOfOffsets) ?? 0;
  const eof = readAddr(eofPos);
  if (eof !== undefined && base + eof > reader.size) {
    throw new KerasFileError(
      `truncated HDF5 file: it has ${reader.size} bytes but its superblock says ${base + eof}`,
      fileName,
    );
  }
  return [2, 4, 8].includes(sizeOfLengths) ? { sizeOfLengths } : undefined;
}

function readLength(b: Uint8Array, pos: number, size: number): number {
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + b[pos + i];
  return v;
}

/**
 * Global heap collections ('GCOL', where HDF5 keeps variable-length strings
 * such as `model_config`) whose object chain does not tile the collection
 * exactly can make the HDF5 library loop forever while decoding them (a
 * zero-size object is reached, e.g. after a damaged size field) or read out
 * of bounds. Walk each collection as the library does (with its 32-bit
 * `size_t`, as compiled to wasm) and reject damaged ones before HDF5 sees
 * them: a damaged file must not hang the page.
 */
function checkGlobalHeaps(
  reader: ByteReader,
  blocks: Iterable<{ offset: number; bytes: Uint8Array }>,
  sizeOfLengths: number,
  fileName: string,
): void {
  const L = sizeOfLengths;
  const hdr = 8 + L;
  const size32 = (b: Uint8Array, pos: number) => readLength(b, pos, Math.min(L, 4));
  for (const { offset, bytes } of blocks) {
    for (let i = bytes.indexOf(0x47); i >= 0; i = bytes.indexOf(0x47, i + 1)) {
      if (bytes[i + 1] !== 0x43 || bytes[i + 2] !== 0x4f || bytes[i + 3] !== 0x4c) continue; // "GCOL"
      const start = offset + i;
      const head = reader.read(start, hdr);
      // version 1; HDF5 ignores the three reserved bytes, so a damaged file may have them set
      if (head.length < hdr || head[4] !== 1) continue;
      const size = readLength(head, 8, L);
      if (size < 4096 || start + size > reader.size) continue;
      const c = reader.read(start, size);
      let p = hdr;
      while (p < size) {
        if (p + hdr > size) {
          p = size; // a tail too small for an object header is free space
          break;
        }
        const idx = c[p] | (c[p + 1] << 8);
        const objSize = size32(c, p + 8);
        const need = idx > 0 ? hdr + Math.ceil(objSize / 8) * 8 : objSize;
        if (need === 0) break;
        p += need;
      }
      if (p !== size) {
        throw new KerasFileError(`corrupt HDF5 file (damaged global heap at byte ${start})`, fileName);
      }
    }
  }
}

/** The whole of an in-memory file as one block. */
function* wholeBlock(bytes: Uint8Array): Iterable<{ offset: number; bytes: Uint8Array }> {
  yield { offset: 0, bytes };
}

/** Shorten HDF5's error stack to its innermost message. */
/** The most specific line of an HDF5 error stack: 'bad heap free list (H5HL__hdr_deserialize)'. */
export function hdf5Message(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  if (/memory allocation failed|Cannot enlarge memory/.test(text)) return 'it declares an object too large to read (a damaged size field?)';
  const lines = [...text.matchAll(/#\d+: .*? in ([A-Za-z0-9_]+)\(\): (.*)/g)];
  if (lines.length > 0) {
    const last = lines[lines.length - 1];
    return `${last[2].trim()} (${last[1]})`;
  }
  return text.split('\n')[0].slice(0, 300);
}

/**
 * Run `fn` on the open file and always close it (and unlink the temporary
 * in-memory copy). While `fn` runs, HDF5 errors throw (h5wasm's throwing
 * error handler) instead of being printed. `fn` must be synchronous: the
 * error handler is global to the wasm module.
 */
export async function withHdf5File<T>(
  source: Hdf5Source,
  fn: (ctx: Hdf5Context) => T,
  opts: { fileName?: string } = {},
): Promise<T> {
  if (typeof source === 'string') {
    const fileName = opts.fileName ?? source;
    const nodeFs = 'node:fs'; // a variable: browser bundles never see it (paths are Node-only)
    const fs = (await import(/* @vite-ignore */ nodeFs)) as typeof import('node:fs');
    let fd: number;
    try {
      fd = fs.openSync(source, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new KerasFileError(
        code === 'ENOENT' ? 'file not found' : `cannot open file (${code ?? String(err)})`,
        fileName,
      );
    }
    try {
      const size = fs.fstatSync(fd).size;
      const reader: ByteReader = {
        size,
        read(offset, length) {
          const buf = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
          fs.readSync(fd, buf, 0, buf.length, offset);
          return buf;
        },
      };
      const info = checkHeader(reader, fileName);
      if (info) {
        const BLOCK = 16 * 1024 * 1024;
        const blocks = function* (): Iterable<{ offset: number; bytes: Uint8Array }> {
          // blocks overlap by 3 bytes so that no 'GCOL' straddles two of them unseen
          for (let offset = 0; offset < size; offset += BLOCK) yield { offset, bytes: reader.read(offset, BLOCK + 3) };
        };
        checkGlobalHeaps(reader, blocks(), info.sizeOfLengths, fileName);
      }
    } finally {
      fs.closeSync(fd);
    }
    const { h5, module } = await h5wasmNode();
    return runOpen(h5, module, source, fileName, fn, () => retire('node'));
  }
  const bytes = source instanceof Uint8Array ? source : new Uint8Array(source);
  const fileName = opts.fileName ?? '<in-memory .h5>';
  const reader: ByteReader = { size: bytes.length, read: (offset, length) => bytes.subarray(offset, offset + length) };
  const info = checkHeader(reader, fileName);
  if (info) checkGlobalHeaps(reader, wholeBlock(bytes), info.sizeOfLengths, fileName);
  const { h5, module } = await h5wasmMemory();
  const tmp = `/convscope_${randomTag()}_${++tempCounter}.h5`;
  module.FS.writeFile(tmp, bytes);
  try {
    return runOpen(h5, module, tmp, fileName, fn, () => retire('memory'));
  } finally {
    try {
      module.FS.unlink(tmp);
    } catch {
      // already gone
    }
  }
}

function randomTag(): string {
  return Math.floor(Math.random() * 0xffffffff).toString(16);
}

interface FsStreams {
  streams: ({ path?: string } | null | undefined)[];
  close(stream: unknown): void;
}

/**
 * Close the streams opened while we ran that are still open, and say
 * whether any besides h5wasm's error tmpfiles was left (the throwing error
 * handler prints HDF5's error stack into a `tmpfile()` and throws before
 * closing it; an error or abort in the middle of a read can leave HDF5
 * objects, hence the file, open).
 */
function closeLeakedStreams(module: H5Module, before: Set<unknown>): boolean {
  const fs = module.FS as unknown as FsStreams;
  let leftOpen = false;
  for (const s of fs.streams ?? []) {
    if (s && !before.has(s)) {
      if (!/tmpfile/.test(s.path ?? '')) leftOpen = true;
      try {
        fs.close(s);
      } catch {
        // already closed
      }
    }
  }
  return leftOpen;
}

/**
 * A crash of the wasm code on a corrupt file: an HDF5 / C++ `abort()`
 * ("Aborted(...)") or a trap such as "memory access out of bounds".
 */
function isWasmCrash(err: unknown): err is Error {
  return (
    err instanceof Error &&
    ((typeof WebAssembly !== 'undefined' && err instanceof WebAssembly.RuntimeError) ||
      err.name === 'RuntimeError' ||
      /^Aborted\(/.test(err.message))
  );
}

function runOpen<T>(
  h5: H5Lib,
  module: H5Module,
  path: string,
  fileName: string,
  fn: (ctx: Hdf5Context) => T,
  onTainted: () => void,
): T {
  const before = new Set<unknown>((module.FS as unknown as FsStreams).streams ?? []);
  let aborted = false;
  // Emscripten writes to stderr when a damaged file holds invalid UTF-8 ("warning: Invalid
  // UTF-8 leading byte ...") and when HDF5 aborts ("Aborted(...)"): the error we raise
  // for the file (or the garbled name) says it in the user's words.
  // (Emscripten binds console.error when the module starts, so the filter sits on stderr itself.)
  const stderr = typeof process !== 'undefined' ? process.stderr : undefined;
  const write = stderr?.write;
  if (stderr && write) {
    stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk);
      if (text.startsWith('warning: Invalid UTF-8') || text.startsWith('Aborted(') || text.startsWith('Cannot enlarge memory')) return true;
      return (write as (...a: unknown[]) => boolean).call(stderr, chunk, ...rest);
    }) as typeof stderr.write;
  }
  module.activate_throwing_error_handler();
  try {
    let file: H5File;
    try {
      file = new h5.File(path, 'r');
    } catch (err) {
      if (isWasmCrash(err)) {
        aborted = true;
        throw new KerasFileError('corrupt HDF5 file: the HDF5 library gave up opening it (its internal structures are damaged)', fileName);
      }
      throw new KerasFileError(`the HDF5 library cannot open it: ${hdf5Message(err)}`, fileName);
    }
    if (file.file_id < 0n) {
      throw new KerasFileError('the HDF5 library cannot open it (corrupt file?)', fileName);
    }
    try {
      return fn({ file, fileName });
    } catch (err) {
      if (err instanceof KerasFileError) throw err;
      if (isWasmCrash(err)) {
        aborted = true;
        throw new KerasFileError('corrupt HDF5 file: the HDF5 library gave up reading it (its internal structures are damaged)', fileName);
      }
      if (err instanceof Error && /HDF5|#\d{3}:/.test(err.message)) {
        throw new KerasFileError(`HDF5 read error: ${hdf5Message(err)}`, fileName);
      }
      throw err;
    } finally {
      try {
        file.close();
      } catch {
        // a file whose open half-failed or whose reader aborted: its stream is closed below
      }
    }
  } finally {
    if (stderr && write) stderr.write = write;
    module.deactivate_throwing_error_handler();
    // After an abort, or when a failed read left the file open inside HDF5,
    // that wasm instance's state is not trusted: the next call gets a fresh one.
    if (closeLeakedStreams(module, before) || aborted) onTainted();
  }
}

/** Number of files the loaded h5wasm modules currently hold open (for leak tests). */
export async function openFileCount(): Promise<number> {
  let n = 0;
  for (const p of [libs.node, libs.memory]) {
    if (!p) continue;
    const { module } = await p;
    const streams = (module.FS as unknown as { streams?: unknown[] }).streams ?? [];
    // fds 0-2 are the standard streams
    n += streams.filter((s, i) => s != null && i > 2).length;
  }
  return n;
}

/** Temporary files left in the in-memory file system (for leak tests). */
export async function memoryFsTempFiles(): Promise<string[]> {
  if (!libs.memory) return [];
  const { module } = await libs.memory;
  return (module.FS.readdir('/') as string[]).filter((n) => n.startsWith('convscope_'));
}

// ---------------------------------------------------------------------------
// Attribute and dataset helpers

/** 'Group' / 'Dataset' / ... without `instanceof` (the two builds have distinct classes). */
function entityType(e: unknown): string | undefined {
  return e && typeof e === 'object' ? String((e as { type?: unknown }).type) : undefined;
}

/** The group at `path` below `parent` ('a/b' is a nested path), or null. */
export function getGroup(parent: Group, path: string): Group | null {
  const e = parent.get(path);
  return entityType(e) === 'Group' ? (e as Group) : null;
}

/** The dataset at `path` below `parent`, or null. */
export function getDataset(parent: Group, path: string): Dataset | null {
  const e = parent.get(path);
  return entityType(e) === 'Dataset' ? (e as Dataset) : null;
}

/** Whether the object has an attribute of that name. */
export function hasAttr(obj: H5Object, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj.attrs, name);
}

const decoder = new TextDecoder();

/** Strip NULL padding (fixed-length strings from older h5py) and decode bytes. */
function toStr(v: unknown): string | undefined {
  if (typeof v === 'string') return v.replace(/\0+$/, '');
  if (v instanceof Uint8Array) {
    const end = v.indexOf(0);
    return decoder.decode(end >= 0 ? v.subarray(0, end) : v);
  }
  return undefined;
}

/** The raw value of an attribute, or undefined when absent. */
export function readAttr(obj: H5Object, name: string): unknown {
  if (!hasAttr(obj, name)) return undefined;
  return obj.attrs[name].value;
}

/**
 * A string attribute, fixed-length NULL-padded or variable-length, scalar or
 * a one-element array; undefined when absent.
 */
export function readStringAttr(obj: H5Object, name: string): string | undefined {
  const v = readAttr(obj, name);
  if (v === undefined || v === null) return undefined;
  const s = toStr(v);
  if (s !== undefined) return s;
  if (Array.isArray(v) && v.length === 1) return toStr(v[0]);
  return undefined;
}

function toStringList(v: unknown, what: string): string[] {
  if (v === null || v === undefined) return [];
  const s = toStr(v);
  if (s !== undefined) return [s];
  if (Array.isArray(v)) {
    return v.map((x) => {
      const t = toStr(x);
      if (t === undefined) throw new Error(`attribute ${what} holds a non-string entry`);
      return t;
    });
  }
  // A weightless layer's `weight_names` is stored by h5py as an empty float64 array.
  if (ArrayBuffer.isView(v) && (v as unknown as { length: number }).length === 0) return [];
  throw new Error(`attribute ${what} is not a list of strings`);
}

/**
 * A list-of-strings attribute as Keras writes it: one array attribute
 * `name`, or split across `name0`, `name1`, ... when it outgrew HDF5's 64 KB
 * object header limit. An empty float64 array (a weightless layer's
 * `weight_names`) gives []. Undefined when no such attribute exists.
 */
export function readStringListAttr(obj: H5Object, name: string): string[] | undefined {
  if (hasAttr(obj, name)) return toStringList(obj.attrs[name].value, name);
  if (!hasAttr(obj, `${name}0`)) return undefined;
  const out: string[] = [];
  for (let i = 0; hasAttr(obj, `${name}${i}`); i++) {
    out.push(...toStringList(obj.attrs[`${name}${i}`].value, `${name}${i}`));
  }
  return out;
}

/** Float32 datasets bigger than this are read in row blocks (the wasm heap never shrinks). */
export const READ_BLOCK_BYTES = 32 * 1024 * 1024;

/**
 * A numeric dataset as float32 values plus its shape (float64 and float16
 * are converted). Big float32 datasets are read in blocks of rows, so the
 * wasm heap grows by one block, not by the whole array (VGG16's fc1 is
 * 411 MB).
 */
export function readFloat32Dataset(ds: Dataset, blockBytes = READ_BLOCK_BYTES): { shape: number[]; values: Float32Array } {
  const meta = ds.metadata;
  const shape = (meta.shape ?? []).map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  if (meta.type !== 0 && meta.type !== 1) {
    throw new Error(`dataset ${ds.path} is not numeric (HDF5 type class ${meta.type})`);
  }
  if (n === 0) return { shape, values: new Float32Array(0) };
  if (meta.type === 1 && meta.size === 4 && n * 4 > blockBytes && shape.length >= 1 && shape[0] > 1) {
    const rowSize = n / shape[0];
    const rowsPerBlock = Math.max(1, Math.floor(blockBytes / (rowSize * 4)));
    const values = new Float32Array(n);
    const rest = shape.slice(1).map((): [] => []);
    for (let r = 0; r < shape[0]; r += rowsPerBlock) {
      const end = Math.min(shape[0], r + rowsPerBlock);
      const part = ds.slice([[r, end], ...rest]);
      if (!(part instanceof Float32Array) || part.length !== (end - r) * rowSize) {
        throw new Error(`dataset ${ds.path}: unexpected slice`);
      }
      values.set(part, r * rowSize);
    }
    return { shape, values };
  }
  const v = ds.value;
  let values: Float32Array;
  if (v instanceof Float32Array) values = v;
  else if (meta.type === 1 && meta.size === 2 && v instanceof Uint8Array) {
    const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
    values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = halfToFloat(dv.getUint16(2 * i, meta.littleEndian));
  } else if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    const arr = v as unknown as ArrayLike<number | bigint>;
    values = new Float32Array(arr.length);
    for (let i = 0; i < arr.length; i++) values[i] = Number(arr[i]);
  } else if (typeof v === 'number' || typeof v === 'bigint') {
    values = Float32Array.of(Number(v));
  } else {
    throw new Error(`dataset ${ds.path}: unsupported value type`);
  }
  if (values.length !== n) {
    throw new Error(`dataset ${ds.path}: ${values.length} values for shape [${shape.join(', ')}]`);
  }
  return { shape, values };
}
