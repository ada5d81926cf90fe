/**
 * JPEG decoding with libjpeg-turbo's decoder compiled to WebAssembly (the
 * `@jsquash/jpeg` package: Squoosh's MozJPEG build; MozJPEG is a fork of
 * libjpeg-turbo that changes the encoder and keeps libjpeg-turbo's decoder).
 * PIL, and so Keras' `load_img`, decodes with libjpeg-turbo with its default
 * settings (accurate integer IDCT, "fancy" chroma upsampling); this build uses
 * the same defaults, so its pixels equal PIL's bit for bit
 * (test/viz/jpeg_vs_pil.test.ts checks it against PIL run in the test).
 *
 * The same module runs in Node and in a browser: in Node the .wasm file is
 * read from node_modules and handed over; in a bundle, the package's own
 * `new URL('mozjpeg_dec.wasm', import.meta.url)` lets the bundler ship it.
 *
 * libjpeg reports problems through messages on stderr: a warning (decoding
 * goes on) or an error (decoding stops, and the wasm program "exits"). Both
 * are captured here instead of printed, so that a truncated file can be
 * refused as PIL refuses it, and a broken one is reported in libjpeg's words.
 */
import createDecoder from '@jsquash/jpeg/codec/dec/mozjpeg_dec.js';

/** What the decoder hands back: RGBA pixels (alpha always 255). */
export interface JpegRgba {
  width: number;
  height: number;
  data: Uint8Array;
}

interface DecoderModule {
  decode(bytes: Uint8Array, preserveOrientation: boolean): { width: number; height: number; data: Uint8ClampedArray } | null;
}

/** libjpeg's warning for data that ends before the image does (JWRN_JPEG_EOF). */
const PREMATURE_END = /premature end of jpeg file/i;

let messages: string[] = [];
let ready: Promise<DecoderModule> | undefined;
let decoder: DecoderModule | undefined;

/** The .wasm bytes in Node (read from node_modules); undefined in a browser, where the bundle fetches it. */
async function wasmBytesInNode(): Promise<Uint8Array | undefined> {
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) return undefined;
  const { createRequire } = await import('node:module');
  const { readFile } = await import('node:fs/promises');
  const require = createRequire(import.meta.url);
  return readFile(require.resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm'));
}

/** Loads the decoder once (later calls return the same promise). */
export function initJpegDecoder(): Promise<void> {
  ready ??= (async () => {
    const wasmBinary = await wasmBytesInNode();
    const capture = (text: string): void => {
      messages.push(String(text));
    };
    const module = (await createDecoder({
      noInitialRun: true,
      ...(wasmBinary ? { wasmBinary } : {}),
      print: capture,
      printErr: capture,
    } as Parameters<typeof createDecoder>[0])) as unknown as DecoderModule;
    decoder = module;
    return module;
  })();
  return ready.then(() => undefined);
}

/** True once {@link initJpegDecoder} has finished. */
export function jpegDecoderReady(): boolean {
  return decoder !== undefined;
}

/**
 * Decode JPEG bytes to RGBA. EXIF orientation is ignored, as PIL's `open`
 * and Keras' `load_img` ignore it. Throws an Error with libjpeg's own words
 * (without a file name: the caller adds it) when the file is damaged, is
 * truncated, or uses a colour space this build cannot turn into RGB (CMYK).
 */
export function decodeJpegWithLibjpeg(bytes: Uint8Array): JpegRgba {
  if (decoder === undefined) {
    throw new Error('the JPEG decoder is not loaded yet (await initImageDecoders() first)');
  }
  messages = [];
  let result: ReturnType<DecoderModule['decode']>;
  try {
    result = decoder.decode(bytes, false);
  } catch (err) {
    const said = messages.join('; ').trim();
    throw new Error(said || (err instanceof Error ? err.message : String(err)));
  }
  const warnings = messages.join('; ');
  if (PREMATURE_END.test(warnings)) {
    // PIL raises "image file is truncated" here (unless LOAD_TRUNCATED_IMAGES is set)
    throw new Error('the file is truncated (libjpeg: "Premature end of JPEG file")');
  }
  if (!result || !(result.width > 0 && result.height > 0)) {
    throw new Error(warnings || 'no image data (corrupt file)');
  }
  const { width, height, data } = result;
  return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}
