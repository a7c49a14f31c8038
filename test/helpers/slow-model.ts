import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { OnnxGraphBuilder, ensureDemoModel } from '../../src/pipeline/demo';

// Big enough that a step is a few dozen products, not thousands of graph nodes.
const SIDE = 768;

/** A U-Net with the demo's contract whose every call burns CPU for a while: K chained matrix products on one thread. */
async function writeSlowUnet(file: string, products: number, noiseScale = 0): Promise<void> {
  const g = new OnnxGraphBuilder('slow_unet');
  const sample = g.input('sample', 'float32', ['batch', 4, 'height', 'width']);
  const timestep = g.input('timestep', 'float32', ['batch']);
  const text = g.input('encoder_hidden_states', 'float32', ['batch', 77, 32]);
  // Seed the chain from the inputs so onnxruntime cannot fold it away at load time.
  const seed = g.op('Add', [
    g.op('ReduceMean', [sample], { keepdims: 0 }),
    g.op('Add', [
      g.op('ReduceMean', [timestep], { keepdims: 0 }),
      g.op('ReduceMean', [text], { keepdims: 0 }),
    ]),
  ]);
  const eye = new Float32Array(SIDE * SIDE);
  for (let i = 0; i < SIDE; i++) eye[i * SIDE + i] = 1;
  const weight = g.initializer('eye', eye, [SIDE, SIDE]);
  let x = g.op('Mul', [seed, g.initializer('ones', new Float32Array(SIDE * SIDE).fill(1e-3), [SIDE, SIDE])]);
  for (let i = 0; i < products; i++) x = g.op('MatMul', [x, weight]);
  const zero = g.op('Mul', [g.op('ReduceMean', [x], { keepdims: 0 }), g.scalar('zero', 0)]);
  g.output(
    'out_sample',
    'float32',
    ['batch', 4, 'height', 'width'],
    g.op('Add', [g.op('Mul', [sample, g.scalar('z2', noiseScale)]), zero]),
  );
  await g.save(file);
}

async function timeOneCall(file: string): Promise<number> {
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const feeds = {
    sample: new ort.Tensor('float32', new Float32Array(4 * 8 * 8), [1, 4, 8, 8]),
    timestep: new ort.Tensor('float32', new Float32Array([1]), [1]),
    encoder_hidden_states: new ort.Tensor('float32', new Float32Array(77 * 32), [1, 77, 32]),
  };
  await session.run(feeds);
  // The fastest of three: other tests load the CPU now and then, and an
  // inflated probe would make the model too fast later, when the CPU is free.
  let ms = Infinity;
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    await session.run(feeds);
    ms = Math.min(ms, performance.now() - start);
  }
  await session.release();
  return ms;
}

/**
 * The demo model with a U-Net whose every call takes about `stepMs` on one
 * core (calibrated on this machine), for tests of what happens while a step
 * takes seconds: lock renewal, heartbeats, cancellation, SIGKILL mid-step.
 * Run its workers with ORT_INTRA_OP_THREADS=1 so the timing holds. Its
 * predicted noise is `noiseScale` × the sample (0: none), so with a scale the
 * schedulers' history matters to the image.
 */
export async function writeSlowModel(
  dir: string,
  dataDir: string,
  stepMs: number,
  noiseScale = 0,
): Promise<void> {
  const demo = await ensureDemoModel(dataDir);
  fs.cpSync(demo, dir, { recursive: true });
  const unet = path.join(dir, 'unet', 'model.onnx');
  // Two probes give the cost of one product without the fixed part of a call.
  await writeSlowUnet(unet, 2);
  const few = await timeOneCall(unet);
  await writeSlowUnet(unet, 12);
  const many = await timeOneCall(unet);
  const perProduct = Math.max((many - few) / 10, 0.1);
  await writeSlowUnet(unet, Math.max(1, Math.round((stepMs - few) / perProduct) + 2), noiseScale);
}
