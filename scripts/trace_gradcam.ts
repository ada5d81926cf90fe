/**
 * Prints which gradient rules fire, in order and with which shapes, when the tape
 * differentiates a VGG16 class score with respect to block5_conv3's output (the
 * Grad-CAM gradient). Used to write docs/autodiff.md: `npx tsx scripts/trace_gradcam.ts`.
 */
import * as cs from '../src/index.ts';

await cs.setBackend(process.argv[2] ?? 'webgpu');
const w = (shape: number[], seed: number) => cs.randomNormal(shape, 0, 0.01, seed);
const layers = {
  conv: [w([3, 3, 512, 512], 1), w([512], 2)],
  fc1: [w([25088, 4096], 3), w([4096], 4)],
  fc2: [w([4096, 4096], 5), w([4096], 6)],
  predictions: [w([4096, 1000], 7), w([1000], 8)],
};
const block5conv2Out = cs.randomUniform([1, 14, 14, 512], 0, 1, 9);
const rows: string[] = [];
const { value, grads } = cs.gradientsOf(
  () => {
    // block5_conv3 = relu(conv + bias): A, the tensor Grad-CAM differentiates with respect to
    const A = cs.relu(cs.biasAdd(cs.conv2d(block5conv2Out, layers.conv[0], { padding: 'same' }), layers.conv[1]));
    const flat = cs.flatten(cs.maxPool(A)); // block5_pool, flatten
    const fc1 = cs.relu(cs.biasAdd(cs.matmul(flat, layers.fc1[0]), layers.fc1[1]));
    const fc2 = cs.relu(cs.biasAdd(cs.matmul(fc1, layers.fc2[0]), layers.fc2[1]));
    const probs = cs.softmax(cs.biasAdd(cs.matmul(fc2, layers.predictions[0]), layers.predictions[1]));
    const score = cs.sum(cs.slice(probs, [0, 386], [1, 1])); // African_elephant
    return { value: score, wrt: [A] };
  },
  { trace: (e) => rows.push(`| ${rows.length + 1} | \`${e.op}\` | ${e.input} | [${e.dyShape.join(', ')}] | [${e.gradShape.join(', ')}] |${e.accumulated ? ' (added)' : ''}`) },
);
console.log('| step | rule of op | for input | dy shape | gradient shape |');
console.log('|---|---|---|---|---|');
console.log(rows.join('\n'));
console.log(`\nscore ${(await value.data())[0]}, dScore/dA shape [${grads[0].shape.join(', ')}]`);
process.exit(0);
