export * from './creation.ts';
export * from './elementwise.ts';
export * from './reduce.ts';
export * from './shape_ops.ts';
export * from './matmul.ts';
export * from './conv.ts';
export * from './pool.ts';
export * from './activation.ts';
