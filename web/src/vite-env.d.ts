/** Vite's `?url` imports (the tfjs-backend-wasm .wasm files in validate_worker.ts): the asset's URL in the build. */
declare module '*?url' {
  const url: string;
  export default url;
}
