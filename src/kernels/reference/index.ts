/** Registers every reference kernel and the 'cpu' (float32) and 'cpu64' (float64) backends. */
import { engine } from '../../engine/engine.ts';
import { ReferenceBackend } from './backend.ts';
import './elementwise.ts';
import './reduce.ts';
import './shape.ts';
import './matmul.ts';
import './conv.ts';
import './depthwise_conv.ts';
import './resize.ts';
import './pool.ts';
import './activation.ts';

engine.registerBackend('cpu', () => new ReferenceBackend('cpu', 'float32'));
engine.registerBackend('cpu64', () => new ReferenceBackend('cpu64', 'float64'));
