import { beforeAll, describe, expect, it } from 'vitest';
import * as cs from '../../src/index.ts';

beforeAll(async () => {
  await cs.setBackend('cpu');
});

// Bad input fails loudly, naming the op and the shapes, never with NaN or a hang.
describe('clear errors', () => {
  it('shape mismatches name the op and both shapes', () => {
    expect(() => cs.add(cs.zeros([2, 3]), cs.zeros([4]))).toThrow('add: shapes [2,3] and [4] cannot be broadcast together');
    expect(() => cs.matmul(cs.zeros([2, 3]), cs.zeros([4, 5]))).toThrow('matmul: inner dimensions differ: [2,3] x [4,5]');
    expect(() => cs.conv2d(cs.zeros([1, 5, 5, 3]), cs.zeros([3, 3, 2, 8]))).toThrow(
      'conv2d: input [1,5,5,3] has 3 channels but filter [3,3,2,8] expects 2',
    );
    expect(() => cs.conv2d(cs.zeros([5, 5, 3]), cs.zeros([3, 3, 3, 8]))).toThrow('conv2d: input must be NHWC (rank 4), got shape [5,5,3]');
    expect(() => cs.conv2d(cs.zeros([1, 2, 2, 1]), cs.zeros([3, 3, 1, 1]))).toThrow(/does not fit input \[1,2,2,1\]/);
    expect(() => cs.reshape(cs.zeros([2, 3]), [4, 2])).toThrow('reshape: cannot reshape [2,3] (6 elements) to [4,2]');
    expect(() => cs.concat([cs.zeros([2, 3]), cs.zeros([3, 3])], 1)).toThrow('concat: shapes [2,3] and [3,3] do not agree off axis 1');
    expect(() => cs.slice(cs.zeros([2, 3]), [1, 2], [2, 1])).toThrow(/slice: begin \[1,2\] size \[2,1\] is outside \[2,3\]/);
    expect(() => cs.biasAdd(cs.zeros([1, 2, 2, 3]), cs.zeros([4]))).toThrow('biasAdd: bias [4] does not match the last axis of [1,2,2,3]');
    expect(() => cs.sum(cs.zeros([2, 3]), 2)).toThrow('sum: axis 2 is out of range for rank 2');
    expect(() => cs.transpose(cs.zeros([2, 3]), [0, 0])).toThrow(/not a permutation/);
    expect(() => cs.tensor([1, 2, 3], [2, 2])).toThrow('tensor: 3 values do not fill shape [2,2] (4 elements)');
    expect(() => cs.maxPoolBackward(cs.zeros([1, 2, 2, 1]), cs.zeros([1, 6, 6, 1]))).toThrow(
      'maxPoolBackward: dy [1,2,2,1] does not match the pool output [1,3,3,1] for input [1,6,6,1]',
    );
  });

  it('mixing backends and unknown backends are errors', async () => {
    const a = cs.zeros([2]);
    await cs.setBackend('cpu64');
    const b = cs.zeros([2]);
    expect(() => cs.add(a, b)).toThrow("add: inputs live on different backends ('cpu' and 'cpu64')");
    await expect(cs.setBackend('nope')).rejects.toThrow(/unknown backend 'nope'/);
    await cs.setBackend('cpu');
  });
});
