/**
 * Getting a WebGPU device, one code path for Node (Dawn through the `webgpu` npm
 * package) and browsers (navigator.gpu).
 */

export interface GpuContext {
  device: GPUDevice;
  adapterInfo: { vendor: string; architecture: string; device: string; description: string };
  /** The limits the device was created with (the adapter's maxima for the ones we need). */
  limits: GPUSupportedLimits;
  hasTimestamps: boolean;
  /**
   * The subgroup size when the device has the 'subgroups' feature and the adapter
   * reports one fixed size (lavapipe: 8, its SIMD width); undefined otherwise.
   */
  subgroupSize?: number;
  /** 'node (dawn)' or 'browser'. */
  runtime: string;
  /** Robust buffer access (out-of-range reads and writes clamped): on unless Dawn's disable_robustness toggle was asked for. */
  robust: boolean;
}

export interface DeviceOptions {
  /** Dawn toggles to enable in Node, e.g. ['disable_robustness']. Ignored in browsers. */
  dawnToggles?: string[];
}

// Dawn's GPU object must stay reachable for the life of the process: if it is
// garbage-collected while the device still works, the process aborts.
let dawnGpu: GPU | undefined;

const NO_ADAPTER_HELP =
  'No WebGPU adapter was found. In Node, convscope uses Dawn (the `webgpu` npm package) on a Vulkan driver; ' +
  'on a machine without a GPU that is Mesa lavapipe >= 25 (Debian bookworm: run `bash scripts/setup.sh` as root, ' +
  'which installs mesa-vulkan-drivers from bookworm-backports; bookworm\'s own Mesa 22 is rejected by Dawn). ' +
  'In a browser, use one with WebGPU enabled (Chromium: --enable-unsafe-webgpu).';

async function getGpu(o: DeviceOptions): Promise<{ gpu: GPU; runtime: string }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) {
    if (!nav?.gpu) throw new Error(NO_ADAPTER_HELP);
    return { gpu: nav.gpu, runtime: 'browser' };
  }
  if (!dawnGpu) {
    throttleDawnPolling();
    const mod = 'webgpu';
    const { create, globals } = await import(/* @vite-ignore */ mod);
    Object.assign(globalThis, globals);
    const flags = o.dawnToggles?.length ? [`enable-dawn-features=${o.dawnToggles.join(',')}`] : [];
    dawnGpu = create(flags) as GPU;
  }
  return { gpu: dawnGpu, runtime: 'node (dawn)' };
}

/**
 * Dawn's Node binding waits for GPU work (onSubmittedWorkDone, mapAsync, and every other
 * promise it returns) by re-arming a native callback with setImmediate until the work is
 * done: a busy loop on the JavaScript thread for as long as the GPU runs. With a software
 * driver that thread competes with the driver's own threads for the same cores (lavapipe
 * runs kernels on every core and compiles shaders on its queue thread), and measured on
 * the 2-core CI machine a 3-conv batch took 2.2-2.8 s with the loop and 1.2-1.5 s without
 * it; a 16x4 subgroup pipeline's first dispatch (its LLVM compile) 8.4-15 s against 4.4-6.5 s.
 *
 * So, in Node only, a native callback that keeps re-arming itself is moved to a 1 ms timer
 * once its wait (or, for waits convscope does not start, its chain of polls) has lasted
 * 10 ms: short waits still return at once (a thread woken from a timer can wait a
 * scheduler slice for a core on a loaded machine: with 3 ms, a 1.4 ms pool took 8 ms),
 * long ones poll a thousand times a second instead of spinning. Callbacks from JavaScript
 * (ordinary setImmediate users, bound functions included) are never touched.
 * CONVSCOPE_DAWN_SPIN=1 turns this off.
 */
let waitStart = 0;

/**
 * Marks the start of a wait for GPU work (the backend's sync and read call it): the polls of
 * a wait are moved to a timer only once that wait has lasted 10 ms, even when the previous
 * wait's polls ran until just before (a loop of short kernels would otherwise wait 1 ms more each).
 */
export function beginGpuWait(): void {
  waitStart = performance.now();
}

function throttleDawnPolling(): void {
  const g = globalThis as unknown as { setImmediate?: (fn: (...a: unknown[]) => void, ...a: unknown[]) => unknown; clearImmediate?: (h: unknown) => void };
  if (typeof process === 'undefined' || process.env?.CONVSCOPE_DAWN_SPIN === '1' || !g.setImmediate || (g.setImmediate as { convscope?: boolean }).convscope) return;
  const plainSet = g.setImmediate;
  const plainClear = g.clearImmediate!;
  const timers = new WeakSet<object>();
  const source = Function.prototype.toString;
  let last = -Infinity;
  const throttled = (fn: (...a: unknown[]) => void, ...args: unknown[]): unknown => {
    if (typeof fn === 'function' && !fn.name && source.call(fn).includes('[native code]')) {
      const now = performance.now();
      if (now - last > 2) waitStart = now;
      last = now;
      if (now - waitStart > 10) {
        const t = setTimeout(fn, 1, ...args);
        timers.add(t);
        return t;
      }
    }
    return plainSet(fn, ...args);
  };
  (throttled as { convscope?: boolean }).convscope = true;
  g.setImmediate = throttled;
  g.clearImmediate = (h: unknown) => (h && typeof h === 'object' && timers.has(h) ? clearTimeout(h as ReturnType<typeof setTimeout>) : plainClear(h));
}

/** The adapter's Dawn GPU object, for peers (tfjs-webgpu) that must share it. */
export function dawnInstance(): GPU | undefined {
  return dawnGpu;
}

export async function createGpuContext(o: DeviceOptions = {}): Promise<GpuContext> {
  const { gpu, runtime } = await getGpu(o);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error(NO_ADAPTER_HELP);
  const want: (keyof GPUSupportedLimits)[] = [
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupSizeX',
    'maxComputeWorkgroupSizeY',
    'maxStorageBuffersPerShaderStage',
    'maxComputeWorkgroupsPerDimension',
  ];
  const requiredLimits: Record<string, number> = {};
  for (const k of want) requiredLimits[k] = adapter.limits[k] as number;
  const hasTimestamps = adapter.features.has('timestamp-query');
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  const sizes = info as { subgroupMinSize?: number; subgroupMaxSize?: number };
  const subgroupSize =
    adapter.features.has('subgroups') && sizes.subgroupMinSize && sizes.subgroupMinSize === sizes.subgroupMaxSize ? sizes.subgroupMinSize : undefined;
  const features: GPUFeatureName[] = [];
  if (hasTimestamps) features.push('timestamp-query');
  if (subgroupSize) features.push('subgroups' as GPUFeatureName);
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures: features });
  return {
    device,
    adapterInfo: {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
    },
    limits: device.limits,
    hasTimestamps,
    subgroupSize,
    runtime,
    robust: runtime === 'browser' || !o.dawnToggles?.includes('disable_robustness'),
  };
}
