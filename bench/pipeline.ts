/**
 * Pipeline overhead: a 512×512, 20-step generation on the SD-shaped fixture
 * model, through the threaded pipeline, against the same onnxruntime calls
 * made directly in one loop (the raw library underneath), in the same run.
 * Prints wall time, time inside session.run, the overhead share and the main
 * thread's event-loop lag while the generation runs.
 *
 *   npm run bench:pipeline [-- --steps 20 --size 512 --runs 3 --channels 32 --json FILE]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
// The compiled package: measure what ships, not a transpile-on-load copy.
import { loadPipeline, writeFixtureModel } from '../dist';
import { atMost, writeBenchResult } from './lib/bench-results';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '20' },
    size: { type: 'string', default: '512' },
    runs: { type: 'string', default: '3' },
    // U-Net width of the fixture: 32 is the test fixture; real SD 1.5 is 320 wide.
    channels: { type: 'string', default: '32' },
    json: { type: 'string' },
  },
});
const steps = Number(values.steps);
const size = Number(values.size);
const runs = Number(values.runs);
const channels = Number(values.channels);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The same session.run calls the pipeline makes (2 text encodes, `steps` U-Net calls at batch 2, one VAE decode), on pre-made tensors. */
async function rawOnnxruntime(dir: string): Promise<number> {
  const text = await ort.InferenceSession.create(path.join(dir, 'text_encoder', 'model.onnx'));
  const unet = await ort.InferenceSession.create(path.join(dir, 'unet', 'model.onnx'));
  const vae = await ort.InferenceSession.create(path.join(dir, 'vae_decoder', 'model.onnx'));
  const h = size / 8;
  const ids = new ort.Tensor('int32', new Int32Array(77).fill(1), [1, 77]);
  const hidden = (await text.run({ input_ids: ids })).last_hidden_state;
  const width = hidden.dims[2];
  const ehs = new ort.Tensor('float32', new Float32Array(2 * 77 * width), [2, 77, width]);
  const sample = new ort.Tensor('float32', new Float32Array(2 * 4 * h * h).fill(0.1), [2, 4, h, h]);
  const latent = new ort.Tensor('float32', new Float32Array(4 * h * h).fill(0.1), [1, 4, h, h]);
  const times: number[] = [];
  for (let r = 0; r < runs + 1; r++) {
    const start = performance.now();
    await text.run({ input_ids: ids });
    await text.run({ input_ids: ids });
    for (let i = 0; i < steps; i++) {
      await unet.run({
        sample,
        timestep: new ort.Tensor('float32', new Float32Array([999 - i]), [1]),
        encoder_hidden_states: ehs,
      });
    }
    await vae.run({ latent_sample: latent });
    if (r > 0) times.push(performance.now() - start); // the first run warms up
  }
  await Promise.all([text.release(), unet.release(), vae.release()]);
  return median(times);
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-bench-'));
  try {
    await writeFixtureModel(dir, { channels });
    const pipeline = await loadPipeline(dir);
    const request = {
      prompt: 'a giraffe eating a building',
      steps,
      width: size,
      height: size,
      seed: 1,
      scheduler: 'euler' as const,
    };
    await pipeline.generate({ ...request, steps: 2 }); // warm-up: first-run allocations
    const walls: number[] = [];
    const inside: number[] = [];
    const lag = monitorEventLoopDelay({ resolution: 1 });
    for (let r = 0; r < runs; r++) {
      lag.enable();
      const start = performance.now();
      const result = await pipeline.generate(request, { onStep: () => undefined });
      walls.push(performance.now() - start);
      lag.disable();
      inside.push(result.timings.session_run_ms);
    }
    await pipeline.close();
    const raw = await rawOnnxruntime(dir);

    const wall = median(walls);
    const run = median(inside);
    const overhead = wall - run;
    const lines = [
      `giraffe bench/pipeline — ${size}x${size}, ${steps} steps (euler, CFG batch 2), SD-shaped fixture (U-Net width ${channels}), ${runs} runs, median`,
      `machine: ${os.cpus()[0]?.model ?? 'unknown cpu'} × ${os.cpus().length}, node ${process.version}, onnxruntime-node ${ort.env.versions.node}`,
      `wall time (threaded pipeline)      ${wall.toFixed(1)} ms`,
      `inside session.run                 ${run.toFixed(1)} ms`,
      `overhead (not onnxruntime)         ${overhead.toFixed(1)} ms = ${((overhead / wall) * 100).toFixed(2)} % of wall   (target ≤ 2 %)`,
      `raw onnxruntime, same calls        ${raw.toFixed(1)} ms   → pipeline/raw = ${(wall / raw).toFixed(3)}`,
      `main-thread event-loop lag         p50 ${(lag.percentile(50) / 1e6).toFixed(2)} ms, p99 ${(lag.percentile(99) / 1e6).toFixed(2)} ms, max ${(lag.max / 1e6).toFixed(2)} ms   (target p99 ≤ 20 ms)`,
    ];
    console.log(lines.join('\n'));
    const share = (overhead / wall) * 100;
    const lagP99 = lag.percentile(99) / 1e6;
    writeBenchResult(values.json, {
      bench: 'pipeline',
      title: `${size}x${size}, ${steps} steps (euler, CFG batch 2), SD-shaped fixture (U-Net width ${channels}), threaded pipeline, median of ${runs} runs`,
      figures: [
        {
          name: 'wall time per generation',
          value: wall,
          unit: 'ms',
          baseline: { name: 'raw onnxruntime, the same session.run calls', value: raw, unit: 'ms' },
        },
        {
          name: 'pipeline overhead (wall − session.run)',
          value: share,
          unit: '% of wall',
          ...atMost(share, 2, '≤ 2 %'),
        },
        {
          name: 'main-thread event-loop lag p99 during generation',
          value: lagP99,
          unit: 'ms',
          ...atMost(lagP99, 20, '≤ 20 ms'),
        },
        { name: 'main-thread event-loop lag max', value: lag.max / 1e6, unit: 'ms' },
      ],
      notes: [`onnxruntime-node ${ort.env.versions.node}; time inside session.run ${run.toFixed(1)} ms`],
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();
