/**
 * Does the device ever wait for the rest of the worker? Jobs per second
 * through the whole embedded service (HTTP in, PNG fetched back) against a
 * raw loop of the same `session.run` calls back to back, in the same run,
 * with onnxruntime on ONE intra-op thread standing for the device (on a GPU
 * machine: the GPU). The fixture's U-Net (width 48; batch 2, 64×64 latents) costs
 * about 20–30 ms a call on one thread here, like SD 1.5's step on a GPU.
 * Target (issue 16): service ≥ 0.95 × raw at 4 and at 20 steps.
 *
 *   npm run build && node --import tsx bench/device-busy.ts [-- --jobs 30 --inflight 3 --channels 48 --json FILE]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { writeFixtureModel } from '../dist';
import { atLeast, writeBenchResult, type BenchFigure } from './lib/bench-results';
import { startGiraffe, waitForLog } from './lib/processes';
import { endProcess } from './lib/end-process';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '30' },
    inflight: { type: 'string', default: '3' },
    channels: { type: 'string', default: '48' },
    json: { type: 'string' },
  },
});
const JOBS = Number(values.jobs);
const INFLIGHT = Number(values.inflight);
const SIZE = 512;

/** The pipeline's session.run calls for one job: two text encodes, `steps` U-Net calls at batch 2, one VAE decode. */
async function rawJobsPerSecond(dir: string, steps: number): Promise<{ perSecond: number; unetMs: number }> {
  const opts = { intraOpNumThreads: 1 };
  const text = await ort.InferenceSession.create(path.join(dir, 'text_encoder', 'model.onnx'), opts);
  const unet = await ort.InferenceSession.create(path.join(dir, 'unet', 'model.onnx'), opts);
  const vae = await ort.InferenceSession.create(path.join(dir, 'vae_decoder', 'model.onnx'), opts);
  const h = SIZE / 8;
  const ids = new ort.Tensor('int32', new Int32Array(77).fill(1), [1, 77]);
  const width = (await text.run({ input_ids: ids })).last_hidden_state.dims[2];
  const ehs = new ort.Tensor('float32', new Float32Array(2 * 77 * width), [2, 77, width]);
  const sample = new ort.Tensor('float32', new Float32Array(2 * 4 * h * h).fill(0.1), [2, 4, h, h]);
  const latent = new ort.Tensor('float32', new Float32Array(4 * h * h).fill(0.1), [1, 4, h, h]);
  let unetTime = 0;
  const job = async (): Promise<void> => {
    await text.run({ input_ids: ids });
    await text.run({ input_ids: ids });
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      await unet.run({
        sample,
        timestep: new ort.Tensor('float32', new Float32Array([999 - i]), [1]),
        encoder_hidden_states: ehs,
      });
      unetTime += performance.now() - t0;
    }
    await vae.run({ latent_sample: latent });
  };
  await job();
  unetTime = 0;
  const start = performance.now();
  for (let j = 0; j < JOBS; j++) await job();
  const seconds = (performance.now() - start) / 1000;
  await Promise.all([text.release(), unet.release(), vae.release()]);
  return { perSecond: JOBS / seconds, unetMs: unetTime / (JOBS * steps) };
}

/** Jobs per second through `giraffe serve`: POST /v1/generate?wait=true, then GET the PNG, `INFLIGHT` at a time. */
async function serviceJobsPerSecond(base: string, steps: number): Promise<number> {
  let seed = 0;
  const one = async (): Promise<void> => {
    const res = await fetch(`${base}/v1/generate?wait=true&timeout=120`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        prompt: 'a giraffe at work',
        steps,
        seed: seed++,
        width: SIZE,
        height: SIZE,
        scheduler: 'euler',
      }),
    });
    const job = (await res.json()) as { status: string; result?: { images: { url: string }[] } };
    if (job.status !== 'succeeded') throw new Error(`job ended ${job.status}: ${JSON.stringify(job)}`);
    const image = await fetch(`${base}${job.result!.images[0].url}`);
    if (!image.ok) throw new Error(`image fetch answered ${image.status}`);
    await image.arrayBuffer();
  };
  await Promise.all(Array.from({ length: INFLIGHT }, one)); // warm-up: the arena grows, V8 optimises
  let left = JOBS;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (left-- > 0) await one();
    }),
  );
  return JOBS / ((performance.now() - start) / 1000);
}

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-bench-busy-'));
  const dir = path.join(tmp, 'models', 'fixture');
  await writeFixtureModel(dir, { channels: Number(values.channels) });
  const serve = startGiraffe(['serve'], {
    PORT: '0',
    HOST: '127.0.0.1',
    MODELS_DIR: path.join(tmp, 'models'),
    DEFAULT_MODEL: 'fixture',
    DATA_DIR: path.join(tmp, 'data'),
    ORT_INTRA_OP_THREADS: '1',
    RATE_LIMIT_MAX: '1000000',
    // One client submits every job: the per-key job limit would refuse most of them.
    MAX_JOBS_PER_KEY: '1000000',
    LOG_LEVEL: 'info',
  });
  const figures: BenchFigure[] = [];
  const notes: string[] = [];
  try {
    const base = await waitForLog(serve, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/);
    for (const steps of [4, 20]) {
      const raw = await rawJobsPerSecond(dir, steps);
      const service = await serviceJobsPerSecond(base, steps);
      const ratio = service / raw.perSecond;
      console.log(
        `${steps} steps: service ${service.toFixed(2)} jobs/s, raw session.run loop ${raw.perSecond.toFixed(2)} jobs/s ` +
          `(U-Net ${raw.unetMs.toFixed(1)} ms/call) → ${ratio.toFixed(3)} × raw`,
      );
      figures.push({
        name: `jobs/s through the service, ${steps} steps`,
        value: +service.toFixed(2),
        unit: 'jobs/s',
        ...atLeast(ratio, 0.95, '≥ 0.95 × raw'),
        baseline: {
          name: 'raw session.run loop, same calls',
          value: +raw.perSecond.toFixed(2),
          unit: 'jobs/s',
        },
      });
      notes.push(
        `${steps} steps: ratio ${ratio.toFixed(3)}, U-Net ${raw.unetMs.toFixed(1)} ms per call on one thread`,
      );
    }
  } finally {
    await serve.stop(5000);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  writeBenchResult(values.json, {
    bench: 'device-busy',
    title: `jobs/s through giraffe serve (HTTP in, PNG back, ${INFLIGHT} in flight) vs the raw session.run loop, one intra-op thread, ${SIZE}², ${JOBS} jobs`,
    figures,
    notes,
  });
}

void main().then(
  () => endProcess(0),
  (err: unknown) => {
    console.error(err);
    endProcess(1);
  },
);
