import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StableDiffusionPipeline, writeFixtureModel } from '../../src/pipeline';
import { sdxlTimeIds } from '../../src/pipeline/stages/encode-prompt-sdxl';
import { channelStd, decodeRgb } from '../helpers/images';

// SDXL-shaped fixtures written by the project's own fixture writer: two text
// encoders with optimum's outputs, a U-Net with text_embeds and time_ids, and
// the scheduler configs of SDXL base, SDXL-Turbo and LCM-distilled models.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-sdxl-fixture-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function load(name: string, options: Parameters<typeof writeFixtureModel>[1]) {
  const dir = path.join(tmp, name);
  await writeFixtureModel(dir, options);
  return StableDiffusionPipeline.load(dir);
}

it('lays out time_ids as diffusers: original size, crop corner, target size, each [height, width]', () => {
  expect([...sdxlTimeIds(96, 64, {})]).toEqual([64, 96, 0, 0, 64, 96]);
  expect([
    ...sdxlTimeIds(96, 64, {
      original_size: [2048, 1536],
      crops_coords_top_left: [16, 8],
      target_size: [1024, 768],
    }),
  ]).toEqual([2048, 1536, 16, 8, 1024, 768]);
});

describe('an SDXL base-shaped fixture', () => {
  let pipeline: StableDiffusionPipeline;
  beforeAll(async () => {
    pipeline = await load('sdxl', { family: 'sdxl', idsType: 'int64', timestep: 'float-scalar' });
  });
  afterAll(() => pipeline?.close());

  it("keeps the contract: both encoders' penultimate states side by side, pooled text_embeds, time_ids", () => {
    const c = pipeline.model.contract;
    expect(c.textEncoder.output).toBe('hidden_states.1');
    expect(c.textEncoder2).toMatchObject({ output: 'hidden_states.1', pooledOutput: 'text_embeds' });
    expect(c.unet.addedConditioning).toEqual({ textEmbedsDim: 24, timeIdsDim: 6 });
    expect(c.unet.hiddenSize).toBe(32 + 40);
    expect(pipeline.info.defaults).toMatchObject({ scheduler: 'euler', guidance_scale: 5, width: 64 });
    // Linear previews use SDXL's latent→RGB factors.
    expect(pipeline.info.latentFormat).toBe('sdxl');
  });

  it('makes an image under guidance, with and without a negative prompt; time_ids reach the U-Net', async () => {
    const base = { prompt: 'a giraffe', seed: 3, steps: 3, width: 64, height: 64 };
    const plain = await pipeline.generate(base);
    const negative = await pipeline.generate({ ...base, negative_prompt: 'blurry' });
    const cropped = await pipeline.generate({
      ...base,
      original_size: [2048, 1024],
      crops_coords_top_left: [64, 0],
    });
    const images = await Promise.all([plain, negative, cropped].map((r) => decodeRgb(r.images[0])));
    for (const img of images) expect(Math.max(...channelStd(img.data))).toBeGreaterThan(1);
    expect(images[0].data.equals(images[1].data)).toBe(false);
    expect(images[0].data.equals(images[2].data)).toBe(false);
    expect(plain.request.guidance_scale).toBe(5);
  });
});

it('feeds text_embeds and time_ids row by row to an export with a fixed batch of 1 (guidance as separate calls)', async () => {
  const fixed = await load('sdxl-batch-1', { family: 'sdxl', batch: 1 });
  const dynamic = await load('sdxl-dynamic', { family: 'sdxl' });
  try {
    const request = { prompt: 'a giraffe', negative_prompt: 'fog', seed: 5, steps: 2, num_images: 2 };
    const [a, b] = await Promise.all([fixed.generate(request), dynamic.generate(request)]);
    expect(a.images).toHaveLength(2);
    // Same weights (same seed), other batching: the same pictures.
    for (let i = 0; i < 2; i++) {
      const [x, y] = await Promise.all([decodeRgb(a.images[i]), decodeRgb(b.images[i])]);
      let maxDiff = 0;
      for (let k = 0; k < x.data.length; k++) maxDiff = Math.max(maxDiff, Math.abs(x.data[k] - y.data[k]));
      expect(maxDiff).toBeLessThanOrEqual(1);
    }
  } finally {
    await Promise.all([fixed.close(), dynamic.close()]);
  }
});

it('fails at load, naming what is missing, when an SDXL U-Net comes without the second text encoder', async () => {
  const dir = path.join(tmp, 'sdxl-one-encoder');
  await writeFixtureModel(dir, { family: 'sdxl' });
  fs.rmSync(path.join(dir, 'text_encoder_2'), { recursive: true });
  fs.rmSync(path.join(dir, 'tokenizer_2'), { recursive: true });
  await expect(StableDiffusionPipeline.load(dir)).rejects.toMatchObject({
    code: 'GIRAFFE_ERR_MODEL_CONTRACT',
    message: expect.stringMatching(/unet.*SDXL U-Net.*no text_encoder_2\/model\.onnx/),
  });
});

describe('an SDXL-Turbo-shaped fixture (Euler a, trailing spacing, 512²)', () => {
  let pipeline: StableDiffusionPipeline;
  beforeAll(async () => {
    pipeline = await load('sdxl-turbo', { family: 'sdxl', scheduler: 'sdxl-turbo', sampleSize: 64 });
  });
  afterAll(() => pipeline?.close());

  it('takes its defaults from the scheduler config alone: Euler a, 1 step, no guidance, 512²', () => {
    expect(pipeline.info.defaults).toEqual({
      scheduler: 'euler_a',
      steps: 1,
      guidance_scale: 0,
      width: 512,
      height: 512,
    });
  });

  it.each([
    [1, [999]],
    [4, [999, 749, 499, 249]],
  ])('runs a %i-step job at trailing timesteps %j with guidance off', async (steps, expected) => {
    const timesteps: number[] = [];
    const result = await pipeline.generate(
      { prompt: 'a giraffe on a skateboard', seed: 7, steps },
      { onStep: (p) => timesteps.push(p.timestep) },
    );
    expect(timesteps).toEqual(expected);
    expect(result.request).toMatchObject({
      width: 512,
      height: 512,
      guidance_scale: 0,
      scheduler: 'euler_a',
    });
    expect([result.width, result.height]).toEqual([512, 512]);
    const img = await decodeRgb(result.images[0]);
    expect(Math.max(...channelStd(img.data))).toBeGreaterThan(1);
  });
});

describe('an LCM-distilled SDXL-shaped fixture', () => {
  it('defaults to the LCM scheduler at 4 steps', async () => {
    const pipeline = await load('sdxl-lcm', { family: 'sdxl', scheduler: 'lcm' });
    try {
      expect(pipeline.info.defaults).toMatchObject({ scheduler: 'lcm', steps: 4, guidance_scale: 1 });
      const timesteps: number[] = [];
      await pipeline.generate(
        { prompt: 'a giraffe', seed: 1 },
        { onStep: (p) => timesteps.push(p.timestep) },
      );
      expect(timesteps).toEqual([999, 759, 499, 259]);
    } finally {
      await pipeline.close();
    }
  });
});
