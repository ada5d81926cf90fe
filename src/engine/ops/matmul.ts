import { engine } from '../engine.ts';
import { shapeString } from '../shape.ts';
import type { Tensor } from '../tensor.ts';

/** 2-D matrix product op(a) x op(b), where op transposes when asked. Dense layers use it. */
export function matmul(a: Tensor, b: Tensor, transposeA = false, transposeB = false): Tensor {
  if (a.rank !== 2 || b.rank !== 2) throw new Error(`matmul: both operands must be 2-D, got ${shapeString(a.shape)} and ${shapeString(b.shape)}`);
  const k1 = transposeA ? a.shape[0] : a.shape[1];
  const k2 = transposeB ? b.shape[1] : b.shape[0];
  if (k1 !== k2) {
    throw new Error(`matmul: inner dimensions differ: ${shapeString(a.shape)}${transposeA ? 'ᵀ' : ''} x ${shapeString(b.shape)}${transposeB ? 'ᵀ' : ''}`);
  }
  return engine.runOp('matmul', { a, b }, { transposeA, transposeB });
}
