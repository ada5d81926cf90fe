/**
 * The browser side of the smoke test (issue 3), bundled by browser_smoke.test.ts with
 * esbuild into test/.generated/browser/. It exposes `window.runBattery()`, which
 * selects the 'webgpu' backend (navigator.gpu in a browser) and runs the shared
 * battery; the result is plain JSON-able data.
 */
import * as cs from '../../src/index.ts';
import { runBattery, type BatteryReport } from './battery.ts';

declare global {
  interface Window {
    runBattery: () => Promise<BatteryReport>;
    /** Set once the module has loaded, so the test knows the bundle evaluated. */
    batteryReady: boolean;
  }
}

window.runBattery = async () => {
  if (!navigator.gpu) throw new Error('navigator.gpu is missing: this browser has no WebGPU (Chromium needs --enable-unsafe-webgpu)');
  await cs.setBackend('webgpu');
  return runBattery('webgpu');
};
window.batteryReady = true;
