/**
 * webgpu against cpu on the same cases: per-image and per-U-Net-step times,
 * the load and warm-up times (WebGPU compiles its shaders on each shape's
 * first run), and what keeping tensors on the GPU changes:
 *
 *  1. the pipeline on each device: load, a warm-up image (1 step at the
 *     model's size), then the e2e golden cases (../shared/goldens/e2e);
 *  2. raw onnxruntime sessions on webgpu, U-Net calls at batch 2 (CFG):
 *     the text embeddings fed from JS memory each step, against the text
 *     encoder's output left on the GPU (`preferredOutputLocation:
 *     'gpu-buffer'`) and fed as it is; and the U-Net's output read back
 *     (what the scheduler needs) against left on the GPU (the most that
 *     chaining it into the next call could save). A GPU tensor is disposed,
 *     never read: getData() on one aborts onnxruntime-node 1.30.
 *
 *   npm run bench:webgpu [-- --software-gpu --cases ddim_10,euler_15 --runs 3
 *                            --steps 5 --latent 16 --text-width 768 --tensors-only --json FILE]
 *
 * Without a GPU, `--software-gpu` points Vulkan at SwiftShader (Debian's
 * chromium package): it shows the overheads, not GPU speed. Without an
 * adapter the webgpu half is reported as unavailable.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    'software-gpu': { type: 'boolean', default: false },
    model: {
      type: 'string',
      default: path.resolve(__dirname, '..', '..', 'shared', 'goldens', 'e2e', 'model'),
    },
    cases: { type: 'string', default: 'ddim_10,euler_15' },
    runs: { type: 'string', default: '3' },
    // Part 2: U-Net calls per timed run, and the latent size (16: 128×128 images).
    steps: { type: 'string', default: '5' },
    latent: { type: 'string', default: '16' },
    // Only part 2 (GPU-resident tensors).
    'tensors-only': { type: 'boolean', default: false },
    // Text embedding width of a second, fixture model for part 2: SD 1.5's is 768.
    'text-width': { type: 'string', default: '768' },
    json: { type: 'string' },
  },
});

// Before onnxruntime loads: Dawn reads the Vulkan variables once, from the process environment.
if (values['software-gpu']) {
  process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
  process.env.XDG_RUNTIME_DIR ??= fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-xdg-'));
}

/* eslint-disable @typescript-eslint/no-require-imports -- loaded after the environment is set */
const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
// The compiled package: measure what ships.
const { loadPipeline, writeFixtureModel, surveyDevices } = require('../dist') as typeof import('../dist');
const { writeBenchResult } = require('./lib/bench-results') as typeof import('./lib/bench-results');
/* eslint-enable @typescript-eslint/no-require-imports */
type BenchFigure = import('./lib/bench-results').BenchFigure;

interface Case {
  name: string;
  prompt: string;
  negative_prompt: string | null;
  seed: number;
  steps: number;
  guidance_scale: number;
  scheduler: import('../dist/pipeline').SchedulerName;
  karras: boolean;
  width: number;
  height: number;
}

const runs = Number(values.runs);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x: number): string => `${x.toFixed(0)} ms`;
const figures: BenchFigure[] = [];
const notes: string[] = [];

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function pipelineOn(device: string, cases: Case[]): Promise<void> {
  let t = performance.now();
  const p = await loadPipeline(values.model!, { device });
  const loadMs = performance.now() - t;
  try {
    const { defaults } = p.info;
    t = performance.now();
    await p.generate({
      prompt: 'warm-up',
      seed: 0,
      steps: 1,
      width: defaults.width,
      height: defaults.height,
    });
    const warmMs = performance.now() - t;
    say(`${device}: load ${ms(loadMs)}, warm-up image (1 step, ${defaults.width}²) ${ms(warmMs)}`);
    figures.push({ name: `${device}: load`, value: loadMs, unit: 'ms' });
    figures.push({ name: `${device}: warm-up image`, value: warmMs, unit: 'ms' });
    for (const c of cases) {
      const { prompt, negative_prompt, seed, steps, guidance_scale, scheduler, karras, width, height } = c;
      const r = await p.generate({
        prompt,
        negative_prompt,
        seed,
        steps,
        guidance_scale,
        scheduler,
        karras,
        width,
        height,
      });
      const step = r.timings.denoise_ms / r.timings.unet_calls;
      say(
        `  ${c.name.padEnd(10)} image ${ms(r.timings.total_ms)}  per step ${ms(step)} (${r.timings.unet_calls} U-Net calls)  ` +
          `text ${ms(r.timings.text_encoder_ms)}  vae ${ms(r.timings.vae_decoder_ms)}`,
      );
      figures.push({ name: `${device}: ${c.name} image`, value: r.timings.total_ms, unit: 'ms' });
      figures.push({ name: `${device}: ${c.name} per U-Net step`, value: step, unit: 'ms' });
    }
  } finally {
    await p.close();
  }
}

/**
 * Part 2: `steps` U-Net calls in a row, as the denoising loop makes them,
 * timed to the moment their result is back in JS memory (WebGPU runs are
 * asynchronous: a call whose output stays on the GPU returns before the GPU
 * is done, so only a read-back ends a fair measurement):
 *  A. embeddings from JS memory, every output read back (what the pipeline does);
 *  B. embeddings left on the GPU by the text encoder, every output read back;
 *  C. embeddings on the GPU and each output fed straight into the next call
 *     (chaining, which the scheduler's math between steps does not allow:
 *     the most keeping latents on the GPU could save), read back at the end.
 */
async function gpuTensors(modelDir: string, label: string): Promise<void> {
  type Tensor = import('onnxruntime-node').Tensor;
  const opts = (location?: 'gpu-buffer'): import('onnxruntime-node').InferenceSession.SessionOptions => ({
    executionProviders: [{ name: 'webgpu', validationMode: 'disabled' } as never],
    logSeverityLevel: 3,
    ...(location ? { preferredOutputLocation: location } : {}),
  });
  const file = (name: string): string => path.join(modelDir, name, 'model.onnx');
  const textCpu = await ort.InferenceSession.create(file('text_encoder'), opts());
  const textGpu = await ort.InferenceSession.create(file('text_encoder'), opts('gpu-buffer'));
  const unetCpu = await ort.InferenceSession.create(file('unet'), opts());
  const unetGpu = await ort.InferenceSession.create(file('unet'), opts('gpu-buffer'));
  const idsType = textCpu.inputMetadata[0] as { type: string };
  const ids = Array.from({ length: 2 * 77 }, (_, i) => (i % 77 === 0 ? 49406 : i % 77 < 5 ? 320 + i : 49407));
  const idsTensor =
    idsType.type === 'int64'
      ? new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [2, 77])
      : new ort.Tensor('int32', Int32Array.from(ids), [2, 77]);
  const textName = textCpu.outputNames[0];
  const hiddenCpu = (await textCpu.run({ [textCpu.inputNames[0]]: idsTensor }, [textName]))[textName];
  const hiddenGpu = (await textGpu.run({ [textGpu.inputNames[0]]: idsTensor }, [textName]))[textName];
  if (hiddenGpu.location !== 'gpu-buffer') throw new Error(`text encoder output is on ${hiddenGpu.location}`);
  const latent = Number(values.latent);
  const start = new ort.Tensor('float32', new Float32Array(2 * 4 * latent * latent).fill(0.1), [
    2,
    4,
    latent,
    latent,
  ]);
  const timestep = new ort.Tensor('float32', new Float32Array([500, 500]), [2]);
  const feeds = (hidden: Tensor, sample: Tensor) => ({ sample, timestep, encoder_hidden_states: hidden });
  const steps = Number(values.steps);
  const readBack = async (hidden: Tensor): Promise<void> => {
    for (let i = 0; i < steps; i++) {
      const out = await unetCpu.run(feeds(hidden, start));
      void out.out_sample.data.length;
    }
  };
  const variants: [string, () => Promise<void>][] = [
    ['A. embeddings from JS, outputs read back', () => readBack(hiddenCpu)],
    ['B. embeddings on GPU, outputs read back', () => readBack(hiddenGpu)],
    [
      'C. embeddings on GPU, outputs chained',
      async () => {
        let x: Tensor = start;
        for (let i = 0; i < steps - 1; i++) {
          const out = (await unetGpu.run(feeds(hiddenGpu, x))).out_sample;
          if (out.location !== 'gpu-buffer') throw new Error('U-Net output not on the GPU');
          if (x !== start) x.dispose();
          x = out;
        }
        // The last call reads back: the GPU has finished every call before it.
        const last = await unetCpu.run(feeds(hiddenGpu, x));
        void last.out_sample.data.length;
        if (x !== start) x.dispose();
      },
    ],
  ];
  for (const [, fn] of variants) await fn(); // compiles every session's shaders
  const times = variants.map(() => [] as number[]);
  for (let r = 0; r < runs; r++) {
    for (let v = 0; v < variants.length; v++) {
      const t = performance.now();
      await variants[v][1]();
      times[v].push((performance.now() - t) / steps);
    }
  }
  const width = hiddenCpu.dims[2];
  say(
    `webgpu U-Net calls, batch 2, ${latent}×${latent} latents, text width ${width} (${label}); per call, median of ${runs} runs of ${steps}:`,
  );
  const base = median(times[0]);
  for (let v = 0; v < variants.length; v++) {
    const m = median(times[v]);
    say(`  ${variants[v][0].padEnd(42)} ${m.toFixed(1)} ms  (${(((m - base) / base) * 100).toFixed(1)} %)`);
    figures.push({ name: `webgpu U-Net call, text width ${width}: ${variants[v][0]}`, value: m, unit: 'ms' });
  }
  hiddenGpu.dispose();
  for (const s of [textCpu, textGpu, unetCpu, unetGpu]) await s.release();
}

async function main(): Promise<void> {
  const casesFile = path.join(values.model!, '..', 'cases.json');
  let cases: Case[];
  if (fs.existsSync(casesFile)) {
    const wanted = values.cases!.split(',');
    cases = (JSON.parse(fs.readFileSync(casesFile, 'utf8')) as Case[]).filter((c) => wanted.includes(c.name));
  } else {
    // Without ../shared (the goldens), the SD-shaped test fixture at its 64×64 size.
    values.model = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-bench-fixture-'));
    await writeFixtureModel(values.model);
    const base = {
      negative_prompt: null,
      seed: 42,
      guidance_scale: 7.5,
      karras: false,
      width: 64,
      height: 64,
    };
    cases = [
      { ...base, name: 'fixture_ddim_10', prompt: 'a giraffe', steps: 10, scheduler: 'ddim' },
      { ...base, name: 'fixture_euler_15', prompt: 'a giraffe', steps: 15, scheduler: 'euler' },
    ];
  }
  const webgpu = (await surveyDevices()).find((d) => d.device === 'webgpu')!;
  say(
    `model ${values.model}; cases ${cases.map((c) => c.name).join(', ')}; ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}`,
  );
  say(
    `webgpu: ${webgpu.available ? webgpu.detail : `unavailable: ${webgpu.detail.slice(0, 120)}…`}${values['software-gpu'] ? ' (SwiftShader)' : ''}`,
  );
  if (!values['tensors-only']) await pipelineOn('cpu', cases);
  if (webgpu.available) {
    if (!values['tensors-only']) await pipelineOn('webgpu', cases);
    await gpuTensors(values.model!, 'the e2e model');
    const wide = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-bench-webgpu-'));
    try {
      await writeFixtureModel(wide, { hiddenSize: Number(values['text-width']) });
      await gpuTensors(wide, 'a fixture U-Net with SD 1.5’s text width');
    } finally {
      fs.rmSync(wide, { recursive: true, force: true });
    }
  } else {
    notes.push(`webgpu not measured: ${webgpu.detail}`);
  }
  writeBenchResult(values.json, {
    bench: 'webgpu',
    title: `webgpu vs cpu on the e2e golden model (${cases.map((c) => c.name).join(', ')}), and GPU-resident tensors`,
    figures,
    notes: [
      ...notes,
      values['software-gpu'] ? 'webgpu ran on SwiftShader, a software Vulkan driver: not GPU speed.' : '',
    ].filter((n) => n),
  });
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
