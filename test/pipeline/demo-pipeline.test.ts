import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import {
  writeDemoModel,
  loadPipeline,
  writeFixtureModel,
  readPngTextChunks,
  parseA1111Parameters,
  schedulerNames,
  StableDiffusionPipeline,
  type Pipeline,
  type GenerateRequest,
} from '../../src';
import { isGiraffeError } from '../../src/errors';
import { channelStd, compareRgb, decodeRgb } from '../helpers/images';

// The exact demo model's U-Net predicts noise exactly for a prompt-dependent target,
// so every correct scheduler must land on the picture the model itself says
// is the target. The target is read from the model (U-Net at sample = 0), not
// from the generator's code.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-demo-'));
let modelDir: string;
let pipeline: StableDiffusionPipeline;

const PROMPT = 'a red giraffe under a blue sky';
const SIZE = 128;
const GUIDANCE = 7.5;

/** The picture the demo model converges to: T = −ε(0, t)·√(1−ᾱ)/√ᾱ, then CFG-combined and decoded. */
async function targetPicture(): Promise<Uint8Array> {
  const model = pipeline.model;
  const encode = async (text: string): Promise<ort.Tensor> => {
    const ids = model.tokenizer.encodeForModel(text, 77);
    const out = await model.textEncoder.session.run({ input_ids: new ort.Tensor('int32', ids, [1, 77]) });
    return out.last_hidden_state;
  };
  const t = 500;
  const betas = Array.from(
    { length: 1000 },
    (_, i) => (Math.sqrt(0.00085) + (i / 999) * (Math.sqrt(0.012) - Math.sqrt(0.00085))) ** 2,
  );
  let alphaBar = 1;
  for (let i = 0; i <= t; i++) alphaBar *= 1 - betas[i];
  const h = SIZE / 8;
  const latentOf = async (hidden: ort.Tensor): Promise<Float32Array> => {
    const out = await model.unet.session.run({
      sample: new ort.Tensor('float32', new Float32Array(4 * h * h), [1, 4, h, h]),
      timestep: new ort.Tensor('float32', new Float32Array([t]), [1]),
      encoder_hidden_states: hidden,
    });
    const eps = out.out_sample.data as Float32Array;
    return eps.map((e) => (-e * Math.sqrt(1 - alphaBar)) / Math.sqrt(alphaBar));
  };
  const cond = await latentOf(await encode(PROMPT));
  const uncond = await latentOf(await encode(''));
  const guided = cond.map((c, i) => uncond[i] + GUIDANCE * (c - uncond[i]));
  const scaled = guided.map((v) => v / 0.18215);
  const image = await model.vaeDecoder.session.run({
    latent_sample: new ort.Tensor('float32', scaled, [1, 4, h, h]),
  });
  const px = image.sample.data as Float32Array;
  const hw = SIZE * SIZE;
  const rgb = new Uint8Array(hw * 3);
  for (let i = 0; i < hw; i++)
    for (let c = 0; c < 3; c++)
      rgb[i * 3 + c] = Math.round(Math.min(1, Math.max(0, px[c * hw + i] / 2 + 0.5)) * 255);
  return rgb;
}

beforeAll(async () => {
  modelDir = path.join(tmp, 'demo-exact');
  await writeDemoModel(modelDir, { exact: true });
  pipeline = await StableDiffusionPipeline.load(modelDir);
});
afterAll(async () => {
  await pipeline?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the demo model', () => {
  let target: Uint8Array;
  beforeAll(async () => {
    target = await targetPicture();
  });

  it('has a colourful, prompt-dependent target', () => {
    expect(Math.min(...channelStd(target))).toBeGreaterThan(10);
  });

  const runs = [
    ...schedulerNames.map((s) => [s, false] as const),
    ['euler', true] as const,
    ['euler_a', true] as const,
    ['dpmpp_2m', true] as const,
  ];
  it.each(runs)('%s (karras %s) converges from noise to the target picture', async (scheduler, karras) => {
    const steps = scheduler === 'lcm' ? 8 : 25;
    const result = await pipeline.generate({
      prompt: PROMPT,
      scheduler,
      karras,
      steps,
      guidance_scale: GUIDANCE,
      width: SIZE,
      height: SIZE,
      seed: 7,
    });
    const ours = await decodeRgb(result.images[0]);
    // Sigma schedulers end at σ = 0 and land within a level of the target; DDIM
    // and PNDM stop at t = 1 and keep √(1−ᾱ₀)·ε of noise (mean ≈ 1 level, max ≈ 7).
    const diff = compareRgb(ours.data, target, 8);
    expect(diff.meanDiff).toBeLessThan(1.5);
    expect(diff.fractionOver).toBeLessThan(0.001);
  });

  it('gives a different picture for a different prompt', async () => {
    const a = await pipeline.generate({
      prompt: 'a green forest',
      steps: 10,
      width: SIZE,
      height: SIZE,
      seed: 1,
    });
    const b = await pipeline.generate({
      prompt: 'an orange desert at noon',
      steps: 10,
      width: SIZE,
      height: SIZE,
      seed: 1,
    });
    const diff = compareRgb((await decodeRgb(a.images[0])).data, (await decodeRgb(b.images[0])).data, 10);
    expect(diff.fractionOver).toBeGreaterThan(0.3);
  });
});

describe('generate', () => {
  it('gives identical bytes for the same seed and parameters', async () => {
    const req = {
      prompt: 'a giraffe eating a building',
      steps: 6,
      width: 64,
      height: 96,
      seed: 1234,
      scheduler: 'euler_a' as const,
    };
    const a = await pipeline.generate(req);
    const b = await pipeline.generate(req);
    expect(a.images[0].equals(b.images[0])).toBe(true);
    const c = await pipeline.generate({ ...req, seed: 1235 });
    expect(a.images[0].equals(c.images[0])).toBe(false);
  });

  it('reports a random seed when none is given and reproduces with it', async () => {
    const a = await pipeline.generate({ prompt: 'seedless', steps: 3, width: 64, height: 64 });
    expect(Number.isInteger(a.seed)).toBe(true);
    const b = await pipeline.generate({ prompt: 'seedless', steps: 3, width: 64, height: 64, seed: a.seed });
    expect(a.images[0].equals(b.images[0])).toBe(true);
  });

  it('writes the A1111 parameters into the PNG and honours width, height and num_images', async () => {
    const result = await pipeline.generate({
      prompt: 'a tall giraffe',
      negative_prompt: 'blurry',
      steps: 4,
      width: 96,
      height: 64,
      seed: 42,
      num_images: 2,
      scheduler: 'ddim',
    });
    expect(result.images).toHaveLength(2);
    for (const png of result.images) {
      const rgb = await decodeRgb(png);
      expect([rgb.width, rgb.height]).toEqual([96, 64]);
      const params = parseA1111Parameters(readPngTextChunks(png).parameters);
      expect(params).toMatchObject({
        prompt: 'a tall giraffe',
        negative_prompt: 'blurry',
        steps: 4,
        seed: 42,
        width: 96,
        height: 64,
        guidance_scale: 7.5,
      });
    }
    expect(result.images[0].equals(result.images[1])).toBe(false);
  });

  it('stops before the next step when the signal aborts', async () => {
    const controller = new AbortController();
    const steps: number[] = [];
    const run = pipeline.generate(
      { prompt: 'cancel me', steps: 30, width: 64, height: 64, seed: 1 },
      {
        signal: controller.signal,
        onStep: (p) => {
          steps.push(p.step);
          if (p.step === 3) controller.abort();
        },
      },
    );
    await expect(run).rejects.toMatchObject({ code: 'GIRAFFE_ERR_GENERATION_CANCELED' });
    expect(steps).toEqual([1, 2, 3]);
  });

  it.each(['jpeg', 'webp'] as const)('encodes %s', async (output_format) => {
    const result = await pipeline.generate({
      prompt: 'x',
      steps: 2,
      width: 64,
      height: 64,
      seed: 3,
      output_format,
    });
    expect((await sharp(result.images[0]).metadata()).format).toBe(output_format);
  });

  it.each([
    [{ prompt: 'x', width: 100 }, 'width'],
    [{ prompt: 'x', steps: 0 }, 'steps'],
    [{ prompt: 'x', scheduler: 'heun' }, 'scheduler'],
    [{ prompt: 'x', seed: 2 ** 32 }, 'seed'],
    [{ prompt: 'x', colour: 'red' }, 'colour'],
    [{ prompt: 42 }, 'prompt'],
  ])('rejects %j naming %s', async (request, field) => {
    // What JavaScript callers (and JSON) can pass whatever the types say: checked at run time too.
    await expect(pipeline.generate(request as unknown as GenerateRequest)).rejects.toMatchObject({
      code: 'GIRAFFE_ERR_REQUEST_INVALID',
      message: expect.stringContaining(field),
    });
  });
});

describe('the threaded pipeline', () => {
  let threaded: Pipeline;
  beforeAll(async () => {
    threaded = await loadPipeline(modelDir);
  });
  afterAll(async () => {
    await threaded?.close();
  });

  it('makes the same bytes as the in-thread pipeline and reports every step with x0', async () => {
    const req = {
      prompt: 'same bytes',
      steps: 5,
      width: 64,
      height: 64,
      seed: 99,
      scheduler: 'dpmpp_2m' as const,
    };
    const seen: number[] = [];
    const inThread = await pipeline.generate(req);
    const result = await threaded.generate(req, {
      onStep: (p) => {
        seen.push(p.step);
        expect(p.predictedOriginal).toHaveLength(4 * 8 * 8);
        expect(p.shape).toEqual([1, 4, 8, 8]);
      },
    });
    expect(Buffer.isBuffer(result.images[0])).toBe(true);
    expect(result.images[0].equals(inThread.images[0])).toBe(true);
    expect(seen).toEqual([1, 2, 3, 4, 5]);
  });

  // That the main thread stays free while the inference thread works is a measurement, not a
  // test: bench/pipeline.ts reports the main thread's event-loop lag during generation.

  it('stops at the next step boundary when canceled, then takes the next job', async () => {
    // Steps of a 512² SD-shaped fixture take tens of milliseconds, far longer
    // than a message between threads, so "within one step" is observable.
    const fixtureDir = path.join(tmp, 'fixture');
    await writeFixtureModel(fixtureDir);
    const slow = await loadPipeline(fixtureDir);
    try {
      const controller = new AbortController();
      const steps: number[] = [];
      let abortedAt = 0;
      const run = slow.generate(
        { prompt: 'cancel me', steps: 50, width: 512, height: 512, seed: 1 },
        {
          signal: controller.signal,
          onStep: (p) => {
            steps.push(p.step);
            if (p.step === 3) {
              abortedAt = p.step;
              controller.abort();
            }
          },
        },
      );
      await expect(run).rejects.toMatchObject({ code: 'GIRAFFE_ERR_GENERATION_CANCELED' });
      // The step running when the flag was set may finish; no step after it starts.
      expect(Math.max(...steps)).toBeLessThanOrEqual(abortedAt + 1);
      const next = await slow.generate({ prompt: 'after cancel', steps: 2, width: 64, height: 64, seed: 1 });
      expect(next.images).toHaveLength(1);
    } finally {
      await slow.close();
    }
  });

  it("starts the next job on the device while the last one's images are encoded", async () => {
    const order: string[] = [];
    // Eight 512² PNGs take far longer to encode than a one-step 64² job takes to run.
    const first = threaded
      .generate({ prompt: 'encode me', steps: 1, width: 512, height: 512, num_images: 8, seed: 2 })
      .then((r) => (order.push('first done'), r));
    const second = threaded
      .generate(
        { prompt: 'meanwhile', steps: 1, width: 64, height: 64, seed: 3 },
        { onStep: () => order.push('second stepped') },
      )
      .then((r) => (order.push('second done'), r));
    const [a, b] = await Promise.all([first, second]);
    expect(order.indexOf('second stepped')).toBeLessThan(order.indexOf('first done'));
    expect(a.images).toHaveLength(8);
    // Overlapping changes nothing in what either job makes.
    const alone = await threaded.generate({ prompt: 'meanwhile', steps: 1, width: 64, height: 64, seed: 3 });
    expect(b.images[0].equals(alone.images[0])).toBe(true);
  });

  it('cancels a queued job without running it', async () => {
    const controller = new AbortController();
    const first = threaded.generate({ prompt: 'first', steps: 5, width: 64, height: 64, seed: 1 });
    const queuedSteps: number[] = [];
    const second = threaded.generate(
      { prompt: 'second', steps: 5, width: 64, height: 64, seed: 1 },
      { signal: controller.signal, onStep: (p) => queuedSteps.push(p.step) },
    );
    controller.abort();
    await expect(second).rejects.toMatchObject({ code: 'GIRAFFE_ERR_GENERATION_CANCELED' });
    await first;
    expect(queuedSteps).toEqual([]);
  });

  it('fails to load a broken model with the load error', async () => {
    const err = await loadPipeline(path.join(tmp, 'nope')).catch((e: unknown) => e);
    expect(isGiraffeError(err, 'GIRAFFE_ERR_MODEL_NOT_FOUND')).toBe(true);
  });
});
