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
    const mod = 'webgpu';
    const { create, globals } = await import(/* @vite-ignore */ mod);
    Object.assign(globalThis, globals);
    const flags = o.dawnToggles?.length ? [`enable-dawn-features=${o.dawnToggles.join(',')}`] : [];
    dawnGpu = create(flags) as GPU;
  }
  return { gpu: dawnGpu, runtime: 'node (dawn)' };
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
  };
}
