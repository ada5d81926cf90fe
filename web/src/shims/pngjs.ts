/**
 * Stands in for pngjs in the web build (vite.config.ts aliases it): pngjs needs Node's Buffer
 * and zlib streams. The page decodes PNG photos with the browser (createImageBitmap) and
 * writes PNG downloads with canvas.toBlob, so these are never called; if one is, it says so.
 */
const unavailable = (): never => {
  throw new Error('PNG through pngjs is not available in the browser build (the page decodes PNG with the browser itself)');
};
export const PNG = { sync: { read: unavailable, write: unavailable } };
export default { PNG };
