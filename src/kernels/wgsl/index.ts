/** Registers every WGSL kernel family and the 'webgpu' backend. */
import { engine } from '../../engine/engine.ts';
import { WebGPUBackend } from './backend.ts';
import './elementwise.ts';
import './reduce.ts';
import './shape.ts';
import './matmul.ts';
import './conv.ts';
import './depthwise_conv.ts';
import './resize.ts';
import './pool.ts';

engine.registerBackend('webgpu', () => WebGPUBackend.create());
export { WebGPUBackend };
