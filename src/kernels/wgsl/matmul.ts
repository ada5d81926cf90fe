import { registerKernel } from '../../engine/kernel_registry.ts';
import type { WebGPUBackend } from './backend.ts';
import { gemmSource, gemmWorkgroups, type GemmSpec } from './gemm.ts';
import { bindings, bufferOf, newOutput } from './program.ts';

registerKernel('matmul', 'webgpu', ({ a, b }, attrs, backend) => {
  const tA = attrs.transposeA as boolean;
  const tB = attrs.transposeB as boolean;
  const [M, K] = tA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const N = tB ? b.shape[0] : b.shape[1];
  const { out, buf, size, bytes } = newOutput(backend, [M, N]);
  if (size === 0) return out;
  const spec: GemmSpec = {
    M, N, K,
    loadA: tA ? 'return in0[k * M + m];' : 'return in0[m * K + k];',
    loadB: tB ? 'return in1[n * K + k];' : 'return in1[k * N + n];',
    aKContiguous: !tA,
    bNContiguous: !tB,
  };
  const g = backend as WebGPUBackend;
  g.dispatch({
    key: `matmul:${M}:${N}:${K}:${tA}:${tB}`,
    source: () => gemmSource(spec, bindings(2)),
    inputs: [bufferOf(a), bufferOf(b)],
    output: buf,
    outputBytes: bytes,
    workgroups: gemmWorkgroups(spec),
  });
  return out;
});
