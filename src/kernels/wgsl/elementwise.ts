import { registerKernel, type KernelInput } from '../../engine/kernel_registry.ts';
import { broadcastShapes, sameShape } from '../../engine/shape.ts';
import type { UnaryOp, BinaryOp } from '../../engine/ops/elementwise.ts';
import type { WebGPUBackend } from './backend.ts';
import { ERF_WGSL } from './erf.ts';
import { bindings, bufferOf, checkRank, divMagic, entry1d, MAX_RANK, newOutput, packParams, padShape, paddedStrides, UDIV_WGSL, WG } from './program.ts';

/** Elementwise kernels: one thread per output element; broadcasting by per-axis strides. */

const F = 'webgpu';

/** WGSL expression of each unary op in terms of `x`. */
const UNARY: Record<UnaryOp, string> = {
  relu: 'max(x, 0.0)',
  sigmoid: '1.0 / (1.0 + exp(-x))',
  // tanh via exp of a non-positive argument: exact at large |x| and no overflow
  tanh: 'sign(x) * (1.0 - exp(-2.0 * abs(x))) / (1.0 + exp(-2.0 * abs(x)))',
  exp: 'exp(x)',
  // WGSL leaves log of a negative number undefined (Vulkan gives NaN); our ops only take logs of positives
  log: 'log(x)',
  sqrt: 'sqrt(x)',
  square: 'x * x',
  abs: 'abs(x)',
  neg: '-x',
  sign: 'sign(x)',
  step: 'select(0.0, 1.0, x > 0.0)',
  erf: 'erf_f32(x)',
};

/** Helper functions a unary expression calls (WGSL has no erf builtin). */
const UNARY_HELPERS: Partial<Record<string, string>> = { erf: ERF_WGSL };

/** WGSL expression of each binary op in terms of `a` and `b`. */
const BINARY: Record<BinaryOp, string> = {
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'a / b',
  maximum: 'select(b, a, a >= b)',
  minimum: 'select(b, a, a <= b)',
  greater: 'select(0.0, 1.0, a > b)',
  greaterEqual: 'select(0.0, 1.0, a >= b)',
  less: 'select(0.0, 1.0, a < b)',
  lessEqual: 'select(0.0, 1.0, a <= b)',
  equal: 'select(0.0, 1.0, a == b)',
};

function unarySource(expr: string, withParams: boolean, helpers = ''): string {
  return `${bindings(1, withParams ? 4 : 0)}
${helpers}
${entry1d(WG)}
  if (gid >= arrayLength(&out)) { return; }
  let x = in0[gid];
  out[gid] = ${expr};
}`;
}

function runUnary(backend: WebGPUBackend, op: string, expr: string, x: KernelInput, params?: ArrayBuffer) {
  const { out, buf, size, bytes } = newOutput(backend, [...x.shape]);
  if (size > 0) {
    backend.dispatch({
      key: `unary:${op}`,
      source: () => unarySource(expr, !!params, UNARY_HELPERS[op]),
      inputs: [bufferOf(x)],
      output: buf,
      outputBytes: bytes,
      uniforms: params,
      workgroups: Math.ceil(size / WG),
    });
  }
  return out;
}

for (const [op, expr] of Object.entries(UNARY)) {
  registerKernel(op, F, ({ x }, _a, b) => runUnary(b as WebGPUBackend, op, expr, x));
}

registerKernel('clip', F, ({ x }, a, b) =>
  runUnary(b as WebGPUBackend, 'clip', 'clamp(x, PF(0u), PF(1u))', x, packParams([{ f32: a.lo as number }, { f32: a.hi as number }])),
);

/**
 * WGSL that turns the flat output index `gid` into flat indices of each input
 * (`idx0`, `idx1`, ...), from the output shape and per-input strides in the uniforms:
 * words 0..5 the output shape, then 6 strides per input.
 */
function broadcastIndexing(nInputs: number): string {
  const decls = Array.from({ length: nInputs }, (_, k) => `var idx${k} = 0u;`).join(' ');
  const adds = Array.from({ length: nInputs }, (_, k) => `idx${k} += c * P(${MAX_RANK}u + ${k * MAX_RANK}u + ax);`).join(' ');
  return `  ${decls}
  var rem = gid;
  for (var ax = ${MAX_RANK - 1}i; ax >= 0; ax--) {
    let d = P(u32(ax));
    let c = rem % d;
    rem = rem / d;
    let axu = u32(ax);
    ${adds.replaceAll('+ ax)', '+ axu)')}
  }`;
}

function broadcastParams(inputs: KernelInput[], outShape: number[]): ArrayBuffer {
  return packParams([...padShape(outShape), ...inputs.flatMap((t) => paddedStrides(t.shape, outShape))]);
}

/** Runs an n-ary elementwise expression over broadcast inputs named a, b, c... */
function runBroadcast(backend: WebGPUBackend, key: string, expr: string, inputs: KernelInput[], outShape: number[]) {
  checkRank(outShape, key);
  const { out, buf, size, bytes } = newOutput(backend, outShape);
  if (size === 0) return out;
  const names = ['a', 'b', 'c'];
  const same = inputs.every((t) => sameShape(t.shape, outShape));
  const loads = inputs.map((_, k) => `let ${names[k]} = in${k}[${same ? 'gid' : `idx${k}`}];`).join('\n  ');
  const source = () => `${bindings(inputs.length, same ? 0 : MAX_RANK * (inputs.length + 1))}
${entry1d(WG)}
  if (gid >= arrayLength(&out)) { return; }
${same ? '' : broadcastIndexing(inputs.length)}
  ${loads}
  out[gid] = ${expr};
}`;
  backend.dispatch({
    key: `${key}:${same ? 'same' : 'bcast'}`,
    source,
    inputs: inputs.map(bufferOf),
    output: buf,
    outputBytes: bytes,
    uniforms: same ? undefined : broadcastParams(inputs, outShape),
    workgroups: Math.ceil(size / WG),
  });
  return out;
}

for (const [op, expr] of Object.entries(BINARY)) {
  registerKernel(op, F, ({ a, b }, _attrs, backend) =>
    runBroadcast(backend as WebGPUBackend, op, expr, [a, b], broadcastShapes(a.shape, b.shape, op)),
  );
}

registerKernel('where', F, ({ cond, a, b }, _attrs, backend) => {
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape, 'where'), b.shape, 'where');
  // inputs are named a, b, c in the shader: here a = cond, b = a, c = b
  return runBroadcast(backend as WebGPUBackend, 'where', 'select(c, b, a != 0.0)', [cond, a, b], shape);
});

registerKernel('broadcastTo', F, ({ x }, a, backend) => runBroadcast(backend as WebGPUBackend, 'broadcastTo', 'a', [x], a.shape as number[]));

// x + bias[channel]: the channel is the flat index modulo C, no per-axis arithmetic needed
registerKernel('biasAdd', F, ({ x, bias }, _a, backend) => {
  const { out, buf, size, bytes } = newOutput(backend, [...x.shape]);
  if (size === 0) return out;
  const C = bias.shape[0];
  (backend as WebGPUBackend).dispatch({
    key: 'biasAdd',
    label: `biasAdd:${C}`,
    source: () => `${bindings(2, 3)}
${UDIV_WGSL}
${entry1d(WG)}
  if (gid >= arrayLength(&out)) { return; }
  out[gid] = in0[gid] + in1[gid - udiv(gid, P(1u), P(2u)) * P(0u)];
}`,
    uniforms: packParams([C, ...divMagic(C)]),
    inputs: [bufferOf(x), bufferOf(bias)],
    output: buf,
    outputBytes: bytes,
    workgroups: Math.ceil(size / WG),
  });
  return out;
});
